"""Cohort: the case table, lazy volumes, validation that reports instead of dropping."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import medwb
from medwb.cohort import Cohort, CohortError, CohortWarning
from medwb.io.nifti import save_nifti


def _vol(seed: int) -> medwb.Volume:
    rng = np.random.default_rng(seed)
    return medwb.Volume.from_geometry(rng.integers(-1000, 1000, (6, 8, 10)).astype(np.int16),
                                      spacing=(2.5, 0.8, 0.8), origin=(-10.0, 5.0, 30.0), modality="CT")


@pytest.fixture()
def nifti_cohort(tmp_path):
    rows = []
    for i in range(3):
        save_nifti(_vol(i), tmp_path / f"img{i}.nii.gz")
        save_nifti(_vol(i).with_array((_vol(i).array > 500).astype(np.uint8)), tmp_path / f"mask{i}.nii.gz")
        rows.append({"case_id": f"c{i}", "image": f"img{i}.nii.gz", "mask": f"mask{i}.nii.gz",
                     "label": i % 2, "time": 100.0 + i, "event": 1, "age": 60 + i})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    (tmp_path / "ground_truth.json").write_text('{"survival_model": {"hr": {"age": 1.2}}}')
    return tmp_path


def test_manifest_paths_resolve_relative_to_the_csv(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort / "manifest.csv")
    v = c.volume("c1")
    np.testing.assert_array_equal(v.array, _vol(1).array)
    np.testing.assert_allclose(v.affine, _vol(1).affine, atol=1e-4)
    assert c.mask("c1").array.sum() == (_vol(1).array > 500).sum()
    assert c.ground_truth["survival_model"]["hr"]["age"] == 1.2
    assert len(c.problems) == 0


def test_volumes_are_cached_within_bounds(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort, cache_size=2)
    a = c.volume("c0")
    assert c.volume("c0").array is a.array  # served from the cache, not read again
    c.volume("c1")
    c.volume("c2")
    assert len(c._cache) == 2
    assert c.volume("c0").array is not a.array  # evicted, loaded again


def test_editing_a_returned_volume_cannot_change_what_the_next_caller_gets(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort)
    first = c.volume("c1")
    with pytest.raises(ValueError, match="read-only"):
        first.array[0, 0, 0] = 12345
    with pytest.raises(ValueError, match="read-only"):
        first.array += 1
    first.affine[0, 3] = 99.0  # each caller's geometry is its own copy
    first.array = np.zeros_like(first.array)  # replacing attributes touches only this caller's Volume
    first.meta["case_id"] = "tampered"
    edited = c.volume("c1").copy()  # the documented way to edit: a writable copy
    edited.array[0, 0, 0] = 12345
    again = c.volume("c1")
    np.testing.assert_array_equal(again.array, _vol(1).array)
    np.testing.assert_allclose(again.affine, _vol(1).affine, atol=1e-4)
    assert again.meta["case_id"] == "c1"


def test_masks_are_read_only_too(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort)
    with pytest.raises(ValueError, match="read-only"):
        c.mask("c0").array[:] = 1
    assert c.mask("c0").array.sum() == (_vol(0).array > 500).sum()


def test_subsets_share_the_cache_read_only(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort)
    sub = c.subset(["c2"])
    assert sub.volume("c2").array is c.volume("c2").array
    assert not sub.volume("c2").array.flags.writeable


def test_missing_image_is_reported_and_other_cases_still_load(nifti_cohort):
    (nifti_cohort / "img2.nii.gz").unlink()
    with pytest.warns(CohortWarning, match="problem"):
        c = Cohort.from_manifest(nifti_cohort)
    row = c.problems.iloc[0]
    assert (row["case_id"], row["column"]) == ("c2", "image")
    assert "img2.nii.gz" in row["problem"]
    assert c.volume("c0").shape == (6, 8, 10)
    assert len(c) == 3  # nothing dropped


def test_bad_outcomes_are_each_reported_with_a_fix():
    table = pd.DataFrame({"case_id": ["a", "b", "c", "d"], "time": [5.0, 0.0, "soon", 7.0],
                          "event": [1, 0, 1, 3], "label": [0, 1, "x", 1]})
    with pytest.warns(CohortWarning):
        c = Cohort(table)
    got = set(zip(c.problems["case_id"], c.problems["column"]))
    assert got == {("b", "time"), ("c", "time"), ("d", "event"), ("c", "label")}
    assert c.problems["fix"].str.len().min() > 10


def test_duplicate_case_ids_raise_and_name_them():
    with pytest.raises(CohortError, match=r"\['a'\]"):
        Cohort(pd.DataFrame({"case_id": ["a", "a", "b"]}))


def test_table_without_case_id_says_how_to_fix():
    with pytest.raises(CohortError, match="rename"):
        Cohort(pd.DataFrame({"PatientID": ["a"]}))


def test_unknown_case_suggests_similar_ids(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort)
    with pytest.raises(KeyError, match="c1"):
        c.volume("C1x")


def test_split_is_stratified_and_deterministic():
    table = pd.DataFrame({"case_id": [f"k{i}" for i in range(40)], "label": [i % 4 == 0 for i in range(40)]})
    c = Cohort(table.astype({"label": int}), warn=False)
    train, test = c.split(0.25, seed=3)
    assert set(train.case_ids).isdisjoint(test.case_ids)
    assert len(train) + len(test) == 40
    assert test.table["label"].sum() == round(10 * 0.25) or test.table["label"].sum() in (2, 3)
    assert c.split(0.25, seed=3)[1].case_ids == test.case_ids
    assert c.split(0.25, seed=4)[1].case_ids != test.case_ids


def test_subset_by_ids_keeps_order_and_ground_truth(nifti_cohort):
    c = Cohort.from_manifest(nifti_cohort)
    sub = c.subset(["c2", "c0"])
    assert sub.case_ids == ["c2", "c0"]
    assert sub.ground_truth == c.ground_truth


def test_from_dicom_joins_clinical_table_and_reports_unmatched(tmp_path):
    from medwb.export.series import write_series

    for i in range(2):
        write_series(_vol(i), tmp_path / "dicom" / f"p{i}", patient_id=f"P{i}", patient_name=f"DEMO^P{i}")
    clinical = pd.DataFrame({"patient_id": ["P0", "P1", "P9"], "age": [50, 60, 70]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CohortWarning)
        c = Cohort.from_dicom(tmp_path / "dicom", clinical, progress=False)
    assert sorted(c.case_ids) == ["P0", "P1", "P9"]
    np.testing.assert_array_equal(c.volume("P1").array, _vol(1).array)
    p9 = c.problems[c.problems["case_id"] == "P9"]
    assert list(p9["column"]) == ["image"]


def test_tensors_and_model_inputs_made_from_a_cached_volume_do_not_write_back(nifti_cohort):
    pytest.importorskip("torch")
    from medwb.convert import to_torch
    from medwb.models.data import Preprocess

    c = Cohort.from_manifest(nifti_cohort)
    v = c.volume("c0").with_array(c.volume("c0").array.astype(np.float32))  # float32: torch could share it
    v.array.setflags(write=False)
    t = to_torch(v, add_batch_channel=False)
    t += 1
    x = Preprocess(window=None, spacing=None, shape=None).tensor(v)  # nothing to change: no new array
    x += 1
    np.testing.assert_array_equal(c.volume("c0").array, _vol(0).array)
    np.testing.assert_array_equal(v.array, _vol(0).array)
