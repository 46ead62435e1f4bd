"""Parametric Map export of attribution maps: float values, method recorded, frames by position."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pydicom
import pytest

from medwb import Volume
from medwb.export.pmap import read_parametric_map, write_parametric_map
from medwb.export.series import write_series
from medwb.io.dicom import load_series


@pytest.fixture
def image(tmp_path):
    c, s = np.cos(-0.25), np.sin(-0.25)
    direction = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])
    v = Volume.from_geometry(np.zeros((7, 16, 18), np.int16), (2.0, 0.7, 0.75), origin=(3, -8, 12),
                             direction=direction, modality="MR")
    write_series(v, tmp_path / "image", instance_order=[6, 0, 5, 1, 4, 2, 3], uid_seed="pm")
    return load_series(tmp_path / "image")


@dataclass
class FakeAttribution:  # the shape of medwb.explain's Attribution: array + method + params
    array: np.ndarray
    method: str
    params: dict = field(default_factory=dict)


def _ramp(shape):
    """Signed float values that differ on every slice (so any frame reordering shows)."""
    k = np.arange(shape[0], dtype=np.float32)[:, None, None]
    rng = np.random.default_rng(3)
    return (k * 10 + rng.normal(size=shape)).astype(np.float32) - 30


def test_map_reads_back_bit_exact_on_the_source_grid(image, tmp_path):
    values = _ramp(image.shape)
    path = write_parametric_map(image.with_array(values), tmp_path / "image", tmp_path / "pm.dcm",
                                method="saliency")
    ds = pydicom.dcmread(path)
    assert ds.BitsAllocated == 32 and "FloatPixelData" in ds
    back = read_parametric_map(path, reference=image)
    np.testing.assert_array_equal(back.array, values)
    assert back.same_grid(image)


def test_map_without_reference_rebuilds_the_geometry_from_its_frames(image, tmp_path):
    values = _ramp(image.shape)
    path = write_parametric_map(image.with_array(values), tmp_path / "image", tmp_path / "pm.dcm",
                                method="occlusion")
    back = read_parametric_map(path)
    np.testing.assert_allclose(back.affine, image.affine, atol=1e-4)
    np.testing.assert_array_equal(back.array, values)


def test_frame_positions_follow_the_source_slices(image, tmp_path):
    path = write_parametric_map(image.with_array(_ramp(image.shape)), tmp_path / "image", tmp_path / "pm.dcm",
                                method="occlusion")
    ds = pydicom.dcmread(path)
    ipp = [np.asarray(f.PlanePositionSequence[0].ImagePositionPatient, float)
           for f in ds.PerFrameFunctionalGroupsSequence]
    frame_values = ds.pixel_array.reshape(len(ipp), -1).mean(axis=1)
    for pos, mean in zip(ipp, frame_values):
        k = image.world_to_index(pos)[0]
        assert abs(mean - (round(k) * 10 - 30)) < 1.0  # the frame at slice k carries slice k's values


def test_method_and_parameters_are_recorded_from_an_attribution(image, tmp_path):
    att = FakeAttribution(_ramp(image.shape), "integrated_gradients", {"target": 1, "n_steps": 32})
    path = write_parametric_map(att, tmp_path / "image", tmp_path / "ig.dcm", reference=image)
    ds = pydicom.dcmread(path)
    assert ds.ContentLabel == "ATTRIBUTION"
    assert "integrated_gradients" in ds.ContentDescription
    rwvm = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert rwvm.LUTLabel == "integrated_gradi"  # LO 16: truncated, the full name is in DerivationDescription
    back = read_parametric_map(path, reference=image)
    assert back.meta["method"] == "integrated_gradients"
    assert back.meta["params"] == {"n_steps": 32, "target": 1}
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == image.meta["series_uid"]


def test_map_without_a_method_is_refused(image, tmp_path):
    with pytest.raises(ValueError, match="method="):
        write_parametric_map(image.with_array(_ramp(image.shape)), tmp_path / "image", tmp_path / "x.dcm")


def test_non_finite_values_are_refused(image, tmp_path):
    values = _ramp(image.shape)
    values[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="nan_to_num"):
        write_parametric_map(image.with_array(values), tmp_path / "image", tmp_path / "x.dcm", method="x")


def test_map_stacked_the_other_way_round_is_flipped_not_refused(image, tmp_path):
    from medwb.export.derived import flip_slices

    values = _ramp(image.shape)
    path = write_parametric_map(flip_slices(image.with_array(values)), tmp_path / "image", tmp_path / "pm.dcm",
                                method="saliency")
    np.testing.assert_array_equal(read_parametric_map(path, reference=image).array, values)
