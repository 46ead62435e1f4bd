"""The demo cohort: real anatomy, lesions where they belong, masks on the image, a reproducible build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

import medwb.demo as demo
from medwb.demo import anatomy, clinical
from medwb.demo.lesions import draw_lesion, place_and_render
from medwb.demo.perturb import GRID_SHAPE, GRID_SPACING, draw_pose, warp_case

N = 5  # cases in the shared test cohort: small, but with each diagnosis for seed 0 (checked below)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return demo.build_cohort(tmp_path_factory.mktemp("demo") / "cohort", n_cases=N, seed=0, progress=False)


def _load_image(folder: Path):
    from medwb.io.dicom import load_series

    return load_series(folder)


def _load_mask(path: Path):
    from medwb.io.nifti import load_nifti

    return load_nifti(path)


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def _pixels_and_uids(root: Path) -> list[tuple[str, bytes, str, str]]:
    out = []
    for p in sorted((root / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(p)
        out.append((str(p.relative_to(root)), ds.PixelData, ds.SOPInstanceUID, ds.SeriesInstanceUID))
    return out


# -- anatomy -----------------------------------------------------------------------------------
@pytest.mark.skipif(not anatomy.CRANIUM_PATH.is_file(), reason="invesalius-examples not installed")
def test_real_head_ct_is_in_hounsfield_units_and_standard_axial_orientation():
    base = anatomy.load_base()
    v = base.volume
    assert base.source.startswith("invesalius-examples")
    assert v.shape == (108, 256, 256)
    np.testing.assert_allclose(v.spacing, (1.5, 0.9570312, 0.9570312), atol=1e-6)
    hu = v.array
    assert -1030 < np.median(hu[:, :8, :8]) < -960  # air in the corner (about -1000 HU)
    brain = hu[base.parenchyma.astype(bool)]
    assert 15 < np.median(brain) < 45
    assert np.percentile(hu, 99.5) > 700  # skull
    # orientation from anatomy, not from a header: the air sinuses (enclosed air) are in front of
    # the head's centre (LPS: anterior = lower row index), the head rest (a separate thin bone arc)
    # behind it, and the head narrows towards the top slice (vertex)
    from scipy import ndimage as ndi

    head_rows, air_rows = [], []
    for k in range(10, 50):
        head = ndi.binary_fill_holes(hu[k] > -300)
        air = head & (hu[k] < -500)
        if air.sum() > 20:
            air_rows.append(np.argwhere(air)[:, 0].mean())
            head_rows.append(np.argwhere(head)[:, 0].mean())
    assert len(air_rows) > 10 and np.mean(air_rows) < np.mean(head_rows) - 20
    lab, n = ndi.label(hu > 250)
    sizes = np.bincount(lab.ravel())[1:]
    rest = np.argsort(sizes)[-2] + 1  # second-largest bone component: the head rest
    skull = np.argmax(sizes) + 1
    assert np.argwhere(lab == rest)[:, 1].mean() > np.argwhere(lab == skull)[:, 1].mean() + 20
    area = (hu > -300).sum(axis=(1, 2))
    assert area[-1] < 0.5 * area[54]
    np.testing.assert_allclose(v.direction, [[0, 0, 1], [0, 1, 0], [1, 0, 0]], atol=1e-9)


def test_phantom_has_the_same_interfaces_as_the_real_head(monkeypatch):
    monkeypatch.setenv("MEDWB_DEMO_ANATOMY", "phantom")
    assert anatomy.anatomy_source() == "phantom"
    base = anatomy.load_base()
    assert base.source == "phantom"
    assert base.volume.shape == (108, 256, 256) and base.volume.modality == "CT"
    assert base.parenchyma.sum() > 10_000
    assert (base.parenchyma <= base.intracranial).all()
    hu = base.volume.array
    assert hu.min() == -1000 and hu.max() >= 1000


# -- lesions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ring", "solid"])
def test_lesions_lie_inside_the_brain(kind):
    base = anatomy.load_base()
    for i in range(3):
        rng = np.random.default_rng([7, i])
        vol, maps = warp_case(base, draw_pose(rng), rng)
        before = vol.array.copy()
        specs = [draw_lesion(kind, rng), draw_lesion(kind, rng)]
        labels, truth = place_and_render(vol.array, GRID_SPACING, maps["intracranial"], maps["parenchyma"],
                                         specs, rng, d_skull=maps["d_skull"], d_brain=maps["d_brain"])  # fmt: skip
        assert labels.shape == GRID_SHAPE and len(truth) == 2
        assert set(np.unique(labels)) <= {0, 1, 2}
        inside = maps["intracranial"].astype(bool)
        assert (labels[~inside] == 0).all(), "lesion or oedema voxels outside the intracranial space"
        for les in truth:
            assert maps["parenchyma"][tuple(les["centre_index"])] == 1
            assert 4.0 <= les["radius_mm"] <= 22.0 and les["volume_ml"] > 0.2
        # nothing was painted outside the skull either (the intensity change stays inside)
        changed = np.abs(vol.array - before) > 0.5
        assert not (changed & ~inside).any()


def test_ring_lesions_enhance_at_the_rim_and_are_necrotic_inside():
    from scipy import ndimage as ndi

    base = anatomy.load_base()
    rng = np.random.default_rng(3)
    vol, maps = warp_case(base, draw_pose(rng), rng)
    hu0 = vol.array.copy()
    labels, truth = place_and_render(vol.array, GRID_SPACING, maps["intracranial"], maps["parenchyma"],
                                     [draw_lesion("ring", rng)], rng, maps["d_skull"], maps["d_brain"])  # fmt: skip
    lesion = labels == 1
    rim = lesion & ~ndi.binary_erosion(lesion, iterations=1)
    core = ndi.binary_erosion(lesion, iterations=3)
    delta = vol.array - hu0
    assert delta[rim].mean() > 20  # enhancing rim
    assert delta[core].mean() < -3  # hypodense necrotic core
    assert delta[labels == 2].mean() < -5  # hypodense oedema
    assert truth[0]["type"] == "ring"


# -- the built cohort ----------------------------------------------------------------------------
def test_manifest_has_the_documented_columns_and_outcomes(built):
    t = built.table
    for col in ["case_id", "patient_id", "image", "mask", "label", "diagnosis", "age", "sex", "ecog",
                "time", "event", "n_lesions", "lesion_volume_ml", "split"]:  # fmt: skip
        assert col in t.columns, col
    assert len(t) == N and t["case_id"].tolist() == [f"case-{i:03d}" for i in range(N)]
    assert (t["time"] > 0).all() and set(t["event"]) <= {0, 1}
    assert t["sex"].isin(["M", "F"]).all() and t["ecog"].between(0, 3).all() and t["age"].between(30, 90).all()
    root = Path(built.root)
    for _, row in t.iterrows():
        assert len(list((root / row["image"]).glob("*.dcm"))) == GRID_SHAPE[0]
        assert (root / row["mask"]).is_file()
    model = built.ground_truth["survival_model"]
    assert model["hazard_ratios"] == clinical.HAZARD_RATIOS
    assert set(built.ground_truth["cases"]) == set(t["case_id"])


def test_label_follows_lesion_morphology(built):
    truth = built.ground_truth["cases"]
    for _, row in built.table.iterrows():
        kinds = [les["type"] for les in truth[row["case_id"]]["lesions"]]
        assert row["label"] == int("ring" in kinds)
        assert row["n_lesions"] == len(kinds)
        expected = "ring-enhancing lesion" if "ring" in kinds else ("solid lesion" if kinds else "no lesion")
        assert row["diagnosis"] == expected


def test_masks_sit_on_the_lesions_in_the_dicom_images(built):
    from scipy import ndimage as ndi

    root = Path(built.root)
    checked = 0
    for _, row in built.table.iterrows():
        img = _load_image(root / row["image"])
        mask = _load_mask(root / row["mask"])
        assert img.shape == mask.shape == GRID_SHAPE
        np.testing.assert_allclose(img.affine, mask.affine, atol=1e-3)
        hu, lab = img.array.astype(float), np.asarray(mask.array).astype(int)
        truth = built.ground_truth["cases"][row["case_id"]]
        if row["n_lesions"] == 0:
            assert lab.max() == 0
            continue
        for les in truth["lesions"]:  # the recorded centre is where the mask is, in LPS too
            idx = np.rint(img.world_to_index(les["centre_lps_mm"])).astype(int)
            assert lab[tuple(idx)] in (1, 2)
        lesion = lab == 1
        edge = lesion & ~ndi.binary_erosion(lesion)
        ring = ndi.binary_dilation(lesion | (lab == 2), iterations=4) & ~(lesion | (lab == 2))
        brain_nearby = ring & (hu > 0) & (hu < 60)
        shifted = np.roll(edge, 6, axis=2)  # the same mask 12 mm to the side must not fit as well
        if row["label"] == 1:
            assert hu[edge].mean() - hu[brain_nearby].mean() > 15  # enhancing rim under the mask edge
            assert hu[edge].mean() - hu[shifted].mean() > 10
        else:
            assert hu[lesion].mean() - hu[brain_nearby].mean() > 5  # mildly hyperdense solid lesion
        checked += 1
    assert checked >= 2


def test_hounsfield_ranges_are_plausible(built):
    root = Path(built.root)
    img = _load_image(root / built.table["image"].iloc[0])
    hu = img.array
    assert img.modality == "CT"
    assert hu.min() >= -1024 and hu.max() <= 3071
    assert np.median(hu[:, :6, :6]) < -950  # air
    assert np.percentile(hu, 99.5) > 700  # bone
    soft = hu[(hu > -50) & (hu < 100)]
    counts, edges = np.histogram(soft, bins=np.arange(-50, 101, 2))
    assert 15 <= edges[np.argmax(counts)] <= 45  # the soft-tissue peak is brain, 15-45 HU


def test_dicom_headers_carry_only_fake_identities(built):
    root = Path(built.root)
    for p in sorted((root / "dicom").rglob("*.dcm"))[::7]:
        raw = p.read_bytes()
        assert b"ProMED" not in raw and b"Cranium" not in raw
        ds = pydicom.dcmread(p)
        assert str(ds.PatientName).startswith("DEMO^CASE")
        assert ds.PatientID.startswith("DEMO-")
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.InstitutionName == "medwb synthetic demo"
        assert ds.Modality == "CT" and ds.BodyPartExamined == "HEAD"
        assert ds.StudyDate.startswith("20")


@pytest.mark.slow
def test_same_seed_gives_identical_voxels_uids_and_tables(built, tmp_path):
    again = demo.build_cohort(tmp_path / "again", n_cases=N, seed=0, progress=False, workers=1)
    a, b = Path(built.root), Path(again.root)
    assert _pixels_and_uids(a) == _pixels_and_uids(b)
    assert (a / "manifest.csv").read_bytes() == (b / "manifest.csv").read_bytes()
    ga, gb = json.loads((a / "ground_truth.json").read_text()), json.loads((b / "ground_truth.json").read_text())
    assert ga == gb
    for case in built.case_ids:
        ma = np.asarray(_load_mask(a / "masks" / f"{case}.nii.gz").array)
        mb = np.asarray(_load_mask(b / "masks" / f"{case}.nii.gz").array)
        assert np.array_equal(ma, mb)


def test_different_seeds_give_different_cohorts(built, tmp_path):
    other = demo.build_cohort(tmp_path / "other", n_cases=2, seed=1, progress=False)
    pa = _pixels_and_uids(Path(built.root))
    pb = _pixels_and_uids(Path(other.root))
    assert pa[0][1] != pb[0][1] and pa[0][2] != pb[0][2]
    assert not built.table[["age", "time"]].iloc[:2].equals(other.table[["age", "time"]])


@pytest.mark.slow
def test_rebuild_with_same_arguments_reuses_files_and_other_arguments_rebuild(tmp_path):
    d = tmp_path / "c"
    demo.build_cohort(d, n_cases=2, seed=4, progress=False)
    before = _files(d)
    again = demo.build_cohort(d, n_cases=2, seed=4, progress=False)
    assert _files(d) == before  # nothing rewritten
    assert len(again) == 2
    forced = demo.build_cohort(d, n_cases=2, seed=4, force=True, progress=False)
    after = _files(d)
    assert after.keys() == before.keys() and after != before  # rewritten, same layout
    assert len(forced) == 2
    bigger = demo.build_cohort(d, n_cases=3, seed=4, progress=False)
    assert len(bigger) == 3 and json.loads((d / "build.json").read_text())["n_cases"] == 3
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith(".")]  # no temp folders


def test_load_cohort_rebuilds_a_cohort_from_an_older_generator(tmp_path):
    d = tmp_path / "old"
    demo.build_cohort(d, n_cases=1, seed=2, progress=False)
    stamp = json.loads((d / "build.json").read_text())
    (d / "build.json").write_text(json.dumps({**stamp, "demo_version": "0.0"}))
    cohort = demo.load_cohort(d)
    assert len(cohort) == 1
    assert json.loads((d / "build.json").read_text())["demo_version"] == demo.DEMO_VERSION


def test_simpleitk_reads_the_series_with_the_same_geometry(built):
    sitk = pytest.importorskip("SimpleITK")
    root = Path(built.root)
    folder = root / built.table["image"].iloc[0]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    ours = _load_image(folder)
    assert img.GetSize() == (GRID_SHAPE[2], GRID_SHAPE[1], GRID_SHAPE[0])
    np.testing.assert_allclose(img.GetSpacing(), GRID_SPACING[::-1], atol=1e-4)
    np.testing.assert_allclose(img.GetOrigin(), ours.origin, atol=1e-3)
    np.testing.assert_allclose(np.reshape(img.GetDirection(), (3, 3)), np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), ours.array)
    # the NIfTI mask lands on the same LPS grid for an independent reader too
    mask = sitk.ReadImage(str(root / built.table["mask"].iloc[0]))
    assert mask.GetSize() == img.GetSize()
    np.testing.assert_allclose(mask.GetOrigin(), img.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(mask.GetDirection(), img.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(mask.GetSpacing(), img.GetSpacing(), atol=1e-4)


def test_build_refuses_to_replace_a_folder_that_is_not_a_demo_cohort(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a medwb demo cohort"):
        demo.build_cohort(tmp_path, n_cases=1, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_phantom_cohort_records_its_anatomy(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDWB_DEMO_ANATOMY", "phantom")
    c = demo.build_cohort(tmp_path / "ph", n_cases=2, seed=0, progress=False, workers=1)
    assert c.ground_truth["anatomy"]["source"] == "phantom"
    assert json.loads((tmp_path / "ph" / "build.json").read_text())["anatomy"] == "phantom"


def test_default_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDWB_DEMO_DIR", str(tmp_path / "x"))
    assert demo.default_dir() == tmp_path / "x"
    monkeypatch.delenv("MEDWB_DEMO_DIR")
    assert demo.default_dir() == Path.home() / ".cache" / "medwb" / "demo"


# -- clinical covariates and survival ------------------------------------------------------------
def test_covariates_follow_the_real_lung_table():
    from lifelines.datasets import load_lung

    lung = load_lung().dropna(subset=["ph.ecog"])
    df = clinical.draw_clinical(2000, np.random.default_rng(0))
    assert abs(df["age"].mean() - lung["age"].mean()) < 1.0
    assert abs((df["sex"] == "M").mean() - (lung["sex"] == 1).mean()) < 0.04
    assert abs(df["ecog"].mean() - lung["ph.ecog"].mean()) < 0.07


def test_survival_times_follow_the_documented_hazard_ratios():
    rng = np.random.default_rng(0)
    n = 3000
    table = clinical.draw_clinical(n, rng)
    table["label"] = rng.integers(0, 2, n)
    table["lesion_volume_ml"] = table["label"] * rng.uniform(4, 45, n) + (1 - table["label"]) * rng.uniform(0, 20, n)
    table = pd.concat([table, clinical.simulate_survival(table, rng)], axis=1)
    assert 0.15 < 1 - table["event"].mean() < 0.45
    check = clinical.hazard_ratio_check(table)
    assert check["covered"].all(), check
    assert list(check.index) == list(clinical.HAZARD_RATIOS)


def test_plan_balances_labels_exactly():
    plan = demo.plan_cases(40, seed=3)
    assert plan["label"].sum() == 18  # round(0.45 * 40)
    for lab, kinds in zip(plan["label"], plan["lesion_kinds"]):
        assert lab == int("ring" in kinds)
