"""Build the demo cohort: plan the cases, render them in parallel, write DICOM + masks + tables.

Layout of a built cohort folder::

    build.json          the build stamp (generator version, seed, n_cases, anatomy); same stamp -> reuse
    manifest.csv        one row per case (case_id, patient_id, image, mask, label, diagnosis, age, sex,
                        ecog, time, event, n_lesions, lesion_volume_ml, oedema_volume_ml, split)
    ground_truth.json   the survival model with its hazard ratios, and per-case lesions and pose
    dicom/case-000/     one CT series per case, IM00001.dcm ... (int16 HU, 2.5 mm axial slices)
    masks/case-000.nii.gz   uint8 labels on the same grid: 0 background, 1 lesion, 2 oedema

A case is a pure function of (seed, case index): its random numbers come from
``numpy.random.default_rng([seed, stream, index])`` and its DICOM UIDs from a seeded hash, so the same
seed gives identical voxel bytes and UIDs on every machine. A rebuild writes into a hidden temporary
folder beside the target and swaps it in with a rename, so a half-built cohort is never visible.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medwb.demo.truth import LABEL_DEFINITION, LABEL_LESION, LABEL_OEDEMA, MASK_LABELS, diagnosis

__all__ = ["DEMO_VERSION", "build_cohort", "load_cohort", "default_dir", "plan_cases", "render_case"]

#: Bump whenever the generator's output changes: a stamp with another version triggers a rebuild.
DEMO_VERSION = "1.1"

_POSITIVE_FRACTION = 0.45
_STREAM_PLAN, _STREAM_CLINICAL, _STREAM_CASE, _STREAM_SURVIVAL, _STREAM_SPLIT = 11, 12, 13, 14, 15


def default_dir() -> Path:
    """Where the demo cohort lives: $MEDWB_DEMO_DIR, else ~/.cache/medwb/demo."""
    env = os.environ.get("MEDWB_DEMO_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "medwb" / "demo"


def _case_ids(n: int) -> list[str]:
    width = max(3, len(str(n - 1)))
    return [f"case-{i:0{width}d}" for i in range(n)]


def plan_cases(n_cases: int, seed: int) -> pd.DataFrame:
    """Decide each case's label, lesion morphologies and clinical covariates (cheap; no images).

    Exactly round(0.45 n) cases are positive (label 1): one ring-enhancing lesion, plus a second
    (ring or solid) in 30 % of them. Negatives have no lesion (45 %), one solid lesion (40 %) or two
    (15 %), so that the label depends on morphology, not on the mere presence of a lesion.
    """
    from medwb.demo.clinical import draw_clinical

    rng = np.random.default_rng([seed, _STREAM_PLAN])
    label = np.zeros(n_cases, dtype=int)
    label[rng.permutation(n_cases)[: int(round(_POSITIVE_FRACTION * n_cases))]] = 1
    kinds: list[list[str]] = []
    for lab in label:
        if lab:
            k = ["ring"] + (["ring" if rng.random() < 0.5 else "solid"] if rng.random() < 0.3 else [])
            kinds.append([str(x) for x in rng.permutation(k)])
        else:
            kinds.append(["solid"] * int(rng.choice([0, 1, 2], p=[0.45, 0.40, 0.15])))
    table = draw_clinical(n_cases, np.random.default_rng([seed, _STREAM_CLINICAL]))
    table.insert(0, "case_id", _case_ids(n_cases))
    table.insert(1, "label", label)
    table["lesion_kinds"] = kinds
    # stratified 80/20 train/test split, fixed for the seed
    split = np.array(["train"] * n_cases, dtype=object)
    srng = np.random.default_rng([seed, _STREAM_SPLIT])
    for lab in (0, 1):
        idx = srng.permutation(np.flatnonzero(label == lab))
        split[idx[: int(round(0.2 * len(idx)))]] = "test"
    table["split"] = split
    return table


def render_case(
    directory: str | Path, index: int, case: dict[str, Any], seed: int, source: str | None = None
) -> dict[str, Any]:
    """Render one case into ``directory`` (dicom/<case_id>/ and masks/<case_id>.nii.gz); return its truth."""
    from medwb.demo.anatomy import load_base
    from medwb.demo.lesions import draw_lesion, place_and_render
    from medwb.demo.perturb import GRID_SPACING, add_noise, draw_pose, warp_case
    from medwb.export.series import write_series
    from medwb.volume import Volume

    base = load_base(source)
    rng = np.random.default_rng([seed, _STREAM_CASE, index])
    pose = draw_pose(rng)
    vol, maps = warp_case(base, pose, rng)
    specs = [draw_lesion(k, rng) for k in case["lesion_kinds"]]
    hu = vol.array
    labels, lesions = place_and_render(
        hu, GRID_SPACING, maps["intracranial"], maps["parenchyma"], specs, rng,
        d_skull=maps["d_skull"], d_brain=maps["d_brain"],
    )  # fmt: skip
    image = add_noise(hu, pose.noise_hu, rng)
    case_id = case["case_id"]
    num = case_id.split("-")[-1]
    study_date = _dt.date(2020, 1, 6) + _dt.timedelta(days=3 * index)
    meta = {"case_id": case_id, "source": base.source}
    ct = Volume(image, vol.affine, modality="CT", meta=meta)
    directory = Path(directory)
    write_series(
        ct, directory / "dicom" / case_id,
        patient_name=f"DEMO^CASE{num}", patient_id=f"DEMO-{num}",
        study_description="CT HEAD (medwb demo, synthetic lesions)",
        series_description="Axial 2.5 mm (synthetic)", study_date=study_date.strftime("%Y%m%d"),
        uid_seed=f"medwb-demo/{DEMO_VERSION}/{seed}/{case_id}",
        extra={
            "PatientBirthDate": f"{study_date.year - int(case['age'])}0101",
            "PatientSex": case["sex"], "PatientAge": f"{int(case['age']):03d}Y",
            "BodyPartExamined": "HEAD", "InstitutionName": "medwb synthetic demo",
            "PatientIdentityRemoved": "YES",
            "DeidentificationMethod": "synthetic demo case: no real patient identity",
            "WindowCenter": "40", "WindowWidth": "80",
        },
    )  # fmt: skip
    from medwb.io.nifti import save_nifti

    (directory / "masks").mkdir(parents=True, exist_ok=True)
    save_nifti(Volume(labels, vol.affine, modality="SEG"), directory / "masks" / f"{case_id}.nii.gz")
    for les in lesions:
        les["centre_lps_mm"] = [round(float(v), 3) for v in vol.index_to_world(les["centre_index"])]
    voxel_ml = float(np.prod(GRID_SPACING)) / 1000.0
    return {
        "case_id": case_id,
        "lesions": lesions,
        "lesion_volume_ml": round(float((labels == LABEL_LESION).sum()) * voxel_ml, 4),
        "oedema_volume_ml": round(float((labels == LABEL_OEDEMA).sum()) * voxel_ml, 4),
        "pose": pose.as_dict(),
        "study_date": study_date.isoformat(),
    }


def _stamp(n_cases: int, seed: int, source: str) -> dict[str, Any]:
    return {"generator": "medwb.demo", "demo_version": DEMO_VERSION, "seed": int(seed),
            "n_cases": int(n_cases), "anatomy": source}  # fmt: skip


def _read_stamp(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "build.json").read_text())
    except (OSError, ValueError):
        return None


def _render_all(tmp: Path, plan: pd.DataFrame, seed: int, workers: int, progress: bool) -> list[dict]:
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from medwb.demo.anatomy import load_base

    load_base()  # decode once here: forked workers inherit it
    cases = plan.to_dict("records")
    results: list[dict | None] = [None] * len(cases)
    bar = tqdm(total=len(cases), desc="medwb demo cohort", unit="case", disable=not progress)
    try:
        if workers <= 1:
            for i, case in enumerate(cases):
                results[i] = render_case(tmp, i, case, seed)
                bar.update()
        else:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
                futures = {pool.submit(render_case, tmp, i, c, seed): i for i, c in enumerate(cases)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
    finally:
        bar.close()
    return [r for r in results if r is not None]


def _write_tables(tmp: Path, plan: pd.DataFrame, truths: list[dict], seed: int, stamp: dict) -> None:
    from medwb.demo.anatomy import load_base
    from medwb.demo.clinical import SURVIVAL_MODEL, design_matrix, simulate_survival
    from medwb.demo.perturb import GRID_SHAPE, GRID_SPACING

    table = plan.copy()
    table["n_lesions"] = [len(t["lesions"]) for t in truths]
    table["lesion_volume_ml"] = [t["lesion_volume_ml"] for t in truths]
    table["oedema_volume_ml"] = [t["oedema_volume_ml"] for t in truths]
    surv = simulate_survival(table, np.random.default_rng([seed, _STREAM_SURVIVAL]))
    table["time"], table["event"] = surv["time"], surv["event"]
    has_ring = pd.Series([any(les["type"] == "ring" for les in t["lesions"]) for t in truths])
    if not (has_ring.astype(int).to_numpy() == table["label"].to_numpy()).all():  # pragma: no cover
        raise AssertionError("demo generator bug: label does not match lesion morphology")
    table["diagnosis"] = [diagnosis(lab, n) for lab, n in zip(table["label"], table["n_lesions"])]
    nums = table["case_id"].str.split("-").str[-1]
    table["patient_id"] = "DEMO-" + nums
    table["image"] = "dicom/" + table["case_id"]
    table["mask"] = "masks/" + table["case_id"] + ".nii.gz"
    cols = ["case_id", "patient_id", "image", "mask", "label", "diagnosis", "age", "sex", "ecog", "time",
            "event", "n_lesions", "lesion_volume_ml", "oedema_volume_ml", "split"]  # fmt: skip
    table[cols].to_csv(tmp / "manifest.csv", index=False)
    x = design_matrix(table)
    cases = {}
    for i, t in enumerate(truths):
        cases[t["case_id"]] = {
            "label": int(table["label"].iloc[i]), "diagnosis": table["diagnosis"].iloc[i],
            "lesions": t["lesions"], "lesion_volume_ml": t["lesion_volume_ml"],
            "oedema_volume_ml": t["oedema_volume_ml"],
            "covariates": {k: round(float(v), 6) for k, v in x.iloc[i].items()},
            "event_time": float(surv["event_time"].iloc[i]), "censor_time": float(surv["censor_time"].iloc[i]),
            "pose": t["pose"], "study_date": t["study_date"],
        }  # fmt: skip
    base = load_base()
    truth = {
        "build": stamp,
        "anatomy": {"source": base.source, "note": "see medwb.demo.anatomy for orientation and provenance"},
        "grid": {"shape": list(GRID_SHAPE), "spacing_mm": list(GRID_SPACING), "axes": "slice, row, column",
                 "world": "LPS"},
        "label_definition": LABEL_DEFINITION,
        "mask_labels": {str(k): v for k, v in MASK_LABELS.items()},
        "survival_model": SURVIVAL_MODEL,
        "cases": cases,
    }  # fmt: skip
    (tmp / "ground_truth.json").write_text(json.dumps(truth, indent=1))


def _swap_in(tmp: Path, directory: Path) -> None:
    old = None
    if directory.exists():
        old = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
        directory.rename(old)
    tmp.rename(directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_cohort(
    directory: str | Path | None = None,
    n_cases: int = 160,
    seed: int = 0,
    force: bool = False,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Any:
    """Build (or reuse) the demo cohort in ``directory`` and return it as a medwb.Cohort.

    The same (n_cases, seed, generator version, anatomy) as the folder's build stamp reuses it
    without touching a file; anything else, or ``force=True``, rebuilds it atomically.

    Args:
        directory: target folder; default ``default_dir()`` ($MEDWB_DEMO_DIR or ~/.cache/medwb/demo).
        n_cases: number of cases (160 builds in about a minute on 2 cores, ~340 MB).
        seed: every voxel, label, covariate, survival time and UID follows from it.
        force: rebuild even when the stamp matches.
        workers: processes to render with (default: up to 2, never more than CPU cores).
        progress: show a tqdm progress bar.

    Example:
        >>> cohort = build_cohort(tmp_path / "demo", n_cases=2, seed=1, workers=1, progress=False)
        >>> cohort.table[["case_id", "label", "diagnosis"]].values.tolist()
        [['case-000', 1, 'ring-enhancing lesion'], ['case-001', 0, 'solid lesion']]
        >>> cohort.volume("case-000").modality, sorted(p.name for p in (tmp_path / "demo").iterdir())
        ('CT', ['build.json', 'dicom', 'ground_truth.json', 'manifest.csv', 'masks'])
        >>> build_cohort(tmp_path / "demo", n_cases=2, seed=1).table.equals(cohort.table)   # reused as is
        True
    """
    from medwb.demo.anatomy import anatomy_source

    if int(n_cases) < 1:
        raise ValueError(f"n_cases must be at least 1, got {n_cases}.\nFix: e.g. build_cohort(dir, n_cases=8).")
    directory = Path(directory).expanduser() if directory is not None else default_dir()
    stamp = _stamp(int(n_cases), int(seed), anatomy_source())
    if not force and _read_stamp_matches(directory, stamp) and (directory / "manifest.csv").is_file():
        return _open(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _lock(directory):  # one builder per folder; a waiting one then finds the cohort built
        if not force and _read_stamp_matches(directory, stamp) and (directory / "manifest.csv").is_file():
            return _open(directory)
        _build_into(directory, int(n_cases), int(seed), stamp, workers, progress)
    return _open(directory)


@contextlib.contextmanager
def _lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``.<name>.lock`` beside the folder (POSIX; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(directory.parent / f".{directory.name}.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _build_into(
    directory: Path, n_cases: int, seed: int, stamp: dict[str, Any], workers: int | None, progress: bool
) -> None:
    current = _read_stamp(directory)
    if directory.exists() and any(directory.iterdir()) and current is None:
        raise FileExistsError(
            f"{directory} exists, is not empty and is not a medwb demo cohort (no build.json); refusing "
            "to replace it.\nFix: pass an empty or new folder, or delete it yourself."
        )
    tmp = directory.parent / f".{directory.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        started = time.perf_counter()
        plan = plan_cases(n_cases, seed)
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1, n_cases)
        truths = _render_all(tmp, plan, seed, max(1, int(n_workers)), progress)
        _write_tables(tmp, plan, truths, seed, stamp)
        stamp_out = {**stamp, "build_seconds": round(time.perf_counter() - started, 2)}
        (tmp / "build.json").write_text(json.dumps(stamp_out, indent=1))
        _swap_in(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_stamp_matches(directory: Path, stamp: dict[str, Any]) -> bool:
    current = _read_stamp(directory)
    return current is not None and {k: current.get(k) for k in stamp} == stamp


def _open(directory: Path) -> Any:
    try:
        from medwb.cohort import Cohort
    except ImportError:  # pragma: no cover - only while medwb.cohort is being written
        return directory / "manifest.csv"
    return Cohort.from_manifest(directory / "manifest.csv")


def load_cohort(directory: str | Path | None = None) -> Any:
    """Open the demo cohort in ``directory`` (default ``default_dir()``), building it if needed.

    A folder built by another generator version or anatomy is rebuilt with its own n_cases and seed;
    a missing one is built with the defaults (160 cases, seed 0).

    Example:
        >>> cohort = load_cohort()                        # MEDWB_DEMO_DIR (./setup.sh builds it)
        >>> cohort.case_ids[0], {"label", "diagnosis", "time", "event"} <= set(cohort.table.columns)
        ('case-000', True)
    """
    from medwb.demo.anatomy import anatomy_source

    directory = Path(directory).expanduser() if directory is not None else default_dir()
    stamp = _read_stamp(directory)
    if stamp is None:
        if directory.exists() and any(directory.iterdir()):
            raise FileNotFoundError(
                f"{directory} holds no medwb demo cohort (no build.json).\n"
                "Fix: medwb.demo.build_cohort(another_folder), or empty this one."
            )
        return build_cohort(directory)
    n_cases, seed = int(stamp.get("n_cases", 160)), int(stamp.get("seed", 0))
    return build_cohort(directory, n_cases=n_cases, seed=seed) if (
        stamp.get("demo_version") != DEMO_VERSION or stamp.get("anatomy") != anatomy_source()
        or not (directory / "manifest.csv").is_file()
    ) else _open(directory)
