"""extract(): one tidy row per case, documented names and units, nothing dropped silently."""

from __future__ import annotations

import numpy as np
import pytest

from medwb.features import FEATURES, FeatureInputError, describe, extract
from medwb.volume import Volume


def _case(radius, value, spacing=(2.0, 1.0, 1.0)):
    z, y, x = np.meshgrid(*[(np.arange(24) - 11.5) * s for s in spacing], indexing="ij")
    m = (x**2 + y**2 + z**2 <= radius**2).astype(np.uint8)
    v = Volume.from_geometry(np.where(m > 0, value, -50.0), spacing=spacing, modality="CT")
    return v, v.with_array(m)


def test_one_row_per_case_with_registered_columns_and_units():
    t = extract({"small": _case(5, 30.0), "large": _case(9, 60.0)}, progress=False)
    assert t["case_id"].tolist() == ["small", "large"]
    assert set(t.columns) - {"case_id"} <= set(FEATURES)
    assert t.attrs["units"]["shape_volume_mm3"] == "mm³"
    assert t.loc[1, "shape_volume_mm3"] > t.loc[0, "shape_volume_mm3"]
    assert t["intensity_mean"].tolist() == [30.0, 60.0]
    assert describe(list(t.columns)).shape[0] == len(t.columns) - 1


def test_cropping_to_the_lesion_does_not_change_any_feature():
    from medwb.features import intensity_features, shape_features, texture_features

    v, m = _case(7, 45.0)
    rng = np.random.default_rng(0)
    v = v.with_array(v.array + rng.normal(0, 5, v.shape))
    t = extract({"a": (v, m)}, progress=False).iloc[0]
    full = {**shape_features(m, v), **intensity_features(v, m), **texture_features(v, m)}
    for k, val in full.items():
        assert t[k] == pytest.approx(val, rel=1e-9), k


@pytest.mark.parametrize("policy", ["nan", "skip"])
def test_cases_without_a_lesion_are_reported_not_dropped_silently(policy):
    v, m = _case(5, 30.0)
    t = extract({"a": (v, m), "b": (v, v.with_array(np.zeros(v.shape, np.uint8))), "c": (v, None)},
                on_empty=policy, progress=False)
    probs = t.attrs["problems"]
    assert probs["case_id"].tolist() == ["b", "c"] and probs["problem"].tolist() == ["empty mask", "no mask"]
    if policy == "nan":
        assert t["case_id"].tolist() == ["a", "b", "c"] and t.loc[1:, "shape_volume_mm3"].isna().all()
    else:
        assert t["case_id"].tolist() == ["a"]


def test_empty_mask_can_be_made_an_error():
    v, _ = _case(5, 30.0)
    with pytest.raises(FeatureInputError, match="case b has no mask"):
        extract({"b": (v, None)}, on_empty="raise", progress=False)


def test_label_selects_one_structure_of_a_multilabel_mask():
    v, m = _case(8, 30.0)
    lab = m.array.copy()
    lab[:12] *= 2  # lower half labelled 2
    t = extract({"a": (v, v.with_array(lab))}, label=1, progress=False)
    assert t.loc[0, "shape_voxel_count"] == int((lab == 1).sum())


def test_mask_function_overrides_cohort_masks():
    v, m = _case(8, 30.0)
    t = extract({"a": (v, m)}, mask=lambda cid, vol: vol.array > 0, families=("intensity",), progress=False)
    assert t.columns.tolist()[1] == "intensity_mean" and t.loc[0, "intensity_min"] == 30.0


def test_mask_on_another_grid_names_both_geometries():
    v, m = _case(5, 30.0)
    affine = m.affine.copy()
    affine[0, 3] += 5.0  # same shape, origin 5 mm away
    shifted = Volume(m.array, affine, "OT")
    with pytest.raises(FeatureInputError, match=r"(?s)case a: image shape.*not on one grid"):
        extract({"a": (v, shifted)}, progress=False)


@pytest.mark.slow
def test_demo_cohort_lesion_volumes_match_the_manifest(demo_cohort):
    cases = demo_cohort.case_ids[:12]
    t = extract(demo_cohort.subset(cases), label=1, progress=False)
    tab = demo_cohort.table.set_index("case_id").loc[cases]
    has = tab["lesion_volume_ml"].to_numpy() > 0
    np.testing.assert_allclose(t["shape_volume_mm3"].to_numpy()[has] / 1000, tab["lesion_volume_ml"].to_numpy()[has],
                               atol=0.01)
    assert t["shape_volume_mm3"][~has].isna().all()
    assert set(t.attrs["problems"]["case_id"]) == set(np.asarray(cases)[~has])
