"""run_pipeline(): the cohort pipeline, in-process by default or on a Dask cluster when given a client.

Both paths run the same task function (medwb.pipeline.case.run_chunk) on the same chunks, so results
are identical; only where the chunks run differs.

Memory per worker stays bounded because (1) a task holds one case (CPU) or ``batch_size`` cases
(CUDA) at a time, (2) every large array goes to disk inside the task and only a small row comes back,
(3) the model is built once per worker process from a scattered ModelSource, and (4) a LocalCluster
made by ``local_client`` gets ``memory_limit`` per worker, so Dask pauses, spills or restarts a worker
that outgrows it (a case whose worker died is reported as failed at step "worker").
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medwb.pipeline.case import STEPS, CaseSpec, PipelineConfig, run_chunk
from medwb.pipeline.model_source import as_model_source
from medwb.pipeline.result import FAILURE_COLUMNS, PipelineResult
from medwb.provenance import to_columns, utc_now, versions, write_sidecar

__all__ = ["run_pipeline", "local_client", "case_specs", "PipelineWarning"]


class PipelineWarning(UserWarning):
    """Some cases failed; the run completed the others (see PipelineResult.failures)."""


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v == ""


def case_specs(cohort: Any, case_ids: Sequence[str] | None = None) -> list[CaseSpec]:
    """Absolute image/mask paths and labels of a Cohort's cases (what tasks receive, never volumes)."""
    table = cohort.table.set_index("case_id", drop=False)
    ids = [str(c) for c in (case_ids if case_ids is not None else cohort.case_ids)]
    root = Path(cohort.root) if getattr(cohort, "root", None) is not None else None

    def resolve(v: Any) -> str | None:
        if _missing(v):
            return None
        p = Path(str(v)).expanduser()
        if not p.is_absolute() and root is not None:
            p = root / p
        return str(p.resolve())  # absolute: workers may run in another folder

    out = []
    for cid in ids:
        row = table.loc[cid]
        label = row.get("label") if "label" in table.columns else None
        label = None if _missing(label) else float(pd.to_numeric(label, errors="coerce"))
        out.append(CaseSpec(cid, resolve(row.get("image")), resolve(row.get("mask")) if "mask" in table else None,
                            label if label is None or not np.isnan(label) else None))
    return out


def _steps(steps: Sequence[str]) -> tuple[str, ...]:
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise ValueError(f"unknown pipeline step(s) {bad}. Steps: {', '.join(STEPS)} (run in that order).")
    wanted = set(steps) | {"load"}
    if "predict" in wanted:
        wanted.add("preprocess")
    return tuple(s for s in STEPS if s in wanted)


def local_client(n_workers: int = 2, threads_per_worker: int = 1, memory_limit: str | int = "4GiB",
                 **kwargs: Any) -> Any:
    """A dask.distributed Client on a LocalCluster of worker *processes* sized for this pipeline.

    One thread per worker means one case in memory per worker; ``memory_limit`` (per worker) makes
    Dask pause and then restart a worker that outgrows it. The client owns its cluster:
    ``client.close()`` (or leaving a ``with`` block) shuts the workers down too.

    Example:
        >>> with local_client(2) as client:                                  # doctest: +SKIP
        ...     res = run_pipeline(cohort, "net.pt", out_dir="runs/dask", client=client)
    """
    import logging

    from distributed import Client

    kwargs.setdefault("dashboard_address", ":0")  # a free port: never collide with another cluster
    kwargs.setdefault("silence_logs", logging.ERROR)
    return Client(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                  memory_limit=memory_limit, **kwargs)


def run_pipeline(
    cohort: Any,
    model_or_checkpoint: Any,
    *,
    out_dir: str | Path,
    steps: Sequence[str] = STEPS,
    explain_method: str = "saliency",
    target: int | str = 1,
    explain_kwargs: dict[str, Any] | None = None,
    families: Sequence[str] = ("shape", "intensity", "texture"),
    save: Sequence[str] = ("attribution", "preprocessed"),
    preprocess: Any = None,
    case_ids: Sequence[str] | None = None,
    client: Any = None,
    device: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    torch_threads: int | None = None,
    deterministic: bool = True,
    resume: bool = False,
    progress: bool = True,
) -> PipelineResult:
    """Run load → preprocess → predict → explain → features on every case of a cohort.

    Args:
        cohort: a medwb Cohort (images and masks are read by the workers from its paths).
        model_or_checkpoint: a medwb checkpoint path (preferred: workers read it once each), a torch
            model, or a ModelSource. Its Preprocess comes from the checkpoint unless ``preprocess`` is given.
        out_dir: run folder for results.csv, failures.csv, run.json, per-case provenance sidecars and
            the .npy arrays (attributions, preprocessed inputs).
        steps: any of "load", "preprocess", "predict", "explain", "features" (load always runs;
            predict implies preprocess).
        explain_method, target, explain_kwargs: passed to medwb.attribution.explain (e.g. method
            "integrated_gradients" with explain_kwargs={"n_steps": 16}).
        families: feature families for medwb.features.extract (lesion mask from the cohort; cases
            without one get NaN mask features). Attribution features are added when explain runs.
        save: which arrays to write: "attribution", "preprocessed".
        client: None runs in-process (tqdm progress bar); a dask.distributed Client or a scheduler
            address ("tcp://host:8786") runs the same tasks on that cluster (Dask progress bar).
        device: "cpu", "cuda", ...; None lets each worker choose (medwb.models.pick_device: $MEDWB_DEVICE,
            then CUDA, MPS, CPU).
        batch_size: cases per task; default 1 on CPU and 8 on CUDA (one batched, pinned forward pass).
        seed: seeds torch before each explanation (and SmoothGrad's noise); recorded in provenance.
        torch_threads: torch.set_num_threads inside tasks (default: leave as is; Dask's worker
            processes default to one thread each).
        deterministic: torch deterministic algorithms during each task (bit-identical results across
            engines and runs; on CUDA slightly slower). Set False for raw GPU speed.
        resume: reuse the results of cases that already completed in ``out_dir`` with the same model
            weights and parameters (their sidecars hold the row and their arrays are on disk); run
            only the rest. For long runs that were interrupted or had failures fixed since.

    Returns:
        PipelineResult with ``results`` (one row per case), ``failures`` (case_id, step, error_type,
        error, traceback) and accessors for the arrays and provenance. A failing case never stops the run.

    Example:
        >>> from medwb.models import Preprocess, TeachingNet3D, save_checkpoint
        >>> net = TeachingNet3D(width=4)                                     # untrained, for the example
        >>> ckpt = save_checkpoint(tmp_path / "net.pt", net, preprocess=Preprocess(shape=(32, 32, 32)))
        >>> cohort = medwb.demo.load_cohort()
        >>> res = run_pipeline(cohort, ckpt, out_dir=tmp_path / "run", steps=("predict", "explain"),
        ...                    case_ids=cohort.case_ids[:2], progress=False)   # in-process; client= for Dask
        >>> res.results[["case_id", "status", "attribution_method"]].values.tolist(), len(res.failures)
        ([['case-000', 'ok', 'saliency'], ['case-001', 'ok', 'saliency']], 0)
        >>> res.attribution("case-000").shape == cohort.volume("case-000").shape   # on the case's own grid
        True
    """
    from medwb.models.device import pick_device

    t_start = time.perf_counter()
    steps_t = _steps(steps)
    source = as_model_source(model_or_checkpoint, preprocess)
    dev = pick_device(device)  # here only for the default batch size; device=None lets each worker choose
    if batch_size is None:
        batch_size = 8 if dev.type == "cuda" else 1
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = PipelineConfig(
        out_dir=str(out), steps=steps_t, explain_method=explain_method, target=target,
        explain_kwargs=dict(explain_kwargs or {}), families=tuple(families), save=tuple(save), seed=int(seed),
        device=None if device is None else str(dev), pin_memory=True, torch_threads=torch_threads,
        deterministic=bool(deterministic))
    specs = case_specs(cohort, case_ids)
    reused = [r for r in (_previous(out, s, config, source) for s in specs) if r is not None] if resume else []
    done = {r["case_id"] for r in reused}
    todo = [s for s in specs if s.case_id not in done]
    chunks = [todo[i:i + int(batch_size)] for i in range(0, len(todo), int(batch_size))]
    started = utc_now()

    own_client = False
    if isinstance(client, str):
        from distributed import Client

        client, own_client = Client(client), True
    try:
        if client is None:
            rows, engine = _run_local(chunks, source, config, progress), "in-process"
        else:
            rows, engine = _run_dask(client, chunks, source, config, progress), f"dask {client.scheduler.address}"
    finally:
        if own_client:
            client.close()

    rows = rows + reused
    order = {s.case_id: i for i, s in enumerate(specs)}
    rows.sort(key=lambda r: order[r["case_id"]])  # cohort order
    results = pd.DataFrame(rows)
    results = results[_column_order(results.columns)]  # one layout whatever the engine or resume
    failed = results[results["status"] != "ok"]
    failures = pd.DataFrame({"case_id": failed["case_id"], "step": failed["failed_step"],
                             "error_type": failed["error_type"], "error": failed["error"],
                             "traceback": failed["traceback"]}, columns=FAILURE_COLUMNS).reset_index(drop=True)
    results = results.drop(columns=["traceback"])
    run = {
        "schema": "medwb-pipeline-run/1",
        "engine": engine,
        "started_at": started,
        "wall_s": round(time.perf_counter() - t_start, 3),
        "n_cases": len(specs), "n_failed": len(failures), "n_reused": len(reused), "batch_size": int(batch_size),
        "params": config.params(), "model": source.info | {"weights_hash": source.weights_hash},
        "preprocess": source.preprocess, "versions": versions(),
        "workers": sorted(results["worker"].dropna().unique().tolist()) if "worker" in results else [],
    }
    results.to_csv(out / "results.csv", index=False)
    failures.to_csv(out / "failures.csv", index=False)
    write_sidecar(out / "run.json", run)
    if len(failures):
        import warnings

        first = failures.iloc[0]
        warnings.warn(f"{len(failures)} of {len(specs)} case(s) failed; see result.failures. First: "
                      f"{first['case_id']} at step {first['step']!r}: {str(first['error']).splitlines()[0]}",
                      PipelineWarning, stacklevel=2)
    return PipelineResult(results, failures, out, json.loads(json.dumps(run, default=str)))


_LEAD = ["case_id", "status", "failed_step", "error_type", "error", "traceback", "label", "prob", "predicted"]
_TAIL = ["features_note", "preprocessed_path", "attribution_path", "provenance_path"]


def _column_order(columns: Sequence[str]) -> list[str]:
    """Results columns in a fixed order: identity and status, prediction, attribution summary, features
    (registry order), file references, provenance, timings and worker."""
    from medwb.features.registry import FEATURES

    feats, prov = list(FEATURES), list(to_columns({}))

    def key(c: str) -> tuple[int, int, str]:
        if c in _LEAD:
            return (0, _LEAD.index(c), c)
        if c.startswith("prob_"):
            return (1, 0, c)
        if c.startswith("attribution_") and not c.endswith("_path"):
            return (2, 0, c)
        if c in feats:
            return (3, feats.index(c), c)
        if c in _TAIL:
            return (4, _TAIL.index(c), c)
        if c in prov:
            return (5, prov.index(c), c)
        if c.startswith("time_"):
            return (6, [f"time_{s}_s" for s in STEPS].index(c) if c[5:-2] in STEPS else 99, c)
        return (7, 0, c)

    return sorted(columns, key=key)


def _previous(out: Path, spec: CaseSpec, config: PipelineConfig, source: Any) -> dict[str, Any] | None:
    """The stored row of a case that completed in ``out`` with these weights and parameters, or None."""
    from medwb.pipeline.case import safe_name
    from medwb.provenance import _jsonable

    path = out / "cases" / f"{safe_name(spec.case_id)}.json"
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
        row, params = rec["extra"]["result"], dict(rec["run"]["params"])
        stored_pp = params.pop("preprocess", None)
        same = (rec["extra"]["status"] == "ok" and row.get("case_id") == spec.case_id
                and rec["model"]["weights_hash"] == source.weights_hash
                and params == _jsonable(config.params())
                and (source.preprocess is None or stored_pp == _jsonable(source.preprocess))
                and rec["data"].get("image") == spec.image
                and all((out / rel).exists() for rel in rec["extra"].get("outputs", {}).values()))
    except (KeyError, TypeError, ValueError):
        return None
    return dict(row) if same else None


def _run_local(chunks: list[list[CaseSpec]], source: Any, config: PipelineConfig, progress: bool
               ) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=sum(len(c) for c in chunks), desc="pipeline", unit="case", disable=not progress)
    try:
        for chunk in chunks:
            rows.extend(run_chunk(chunk, source, config))
            bar.update(len(chunk))
    finally:
        bar.close()
    return rows


def _run_dask(client: Any, chunks: list[list[CaseSpec]], source: Any, config: PipelineConfig,
              progress: bool) -> list[dict[str, Any]]:
    from distributed import as_completed
    from distributed import progress as dask_progress

    src = client.scatter(source, broadcast=True, hash=False)
    cfg = client.scatter(config, broadcast=True, hash=False)
    keys = [f"medwb-case-{chunk[0].case_id}-{source.weights_hash[:8]}-{i}" for i, chunk in enumerate(chunks)]
    futures = client.map(run_chunk, chunks, source=src, config=cfg, key=keys, pure=False, retries=0)
    by_key = {f.key: chunk for f, chunk in zip(futures, chunks)}
    if progress:
        dask_progress(futures, multi=False)
    rows: list[dict[str, Any]] = []
    for fut in as_completed(futures):
        try:
            rows.extend(fut.result())
        except Exception as err:  # noqa: BLE001 - a lost worker (memory limit, crash) fails its cases only
            for spec in by_key[fut.key]:
                rows.append({"case_id": spec.case_id, "status": "failed", "failed_step": "worker",
                             "error_type": type(err).__name__, "error": str(err)[:1000] or repr(err),
                             "traceback": repr(err), "label": spec.label})
        fut.release()
    return rows
