"""medwb's own objects (series, SEG, Parametric Map, SR) read back the same after de-identification."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from medwb import Volume
from medwb.deid import Deidentifier, PseudonymMap
from medwb.export.pmap import read_parametric_map, write_parametric_map
from medwb.export.seg import read_seg, write_seg
from medwb.export.series import write_series
from medwb.export.sr import read_sr, write_sr
from medwb.io.dicom import load_series


@pytest.fixture
def exported(tmp_path):
    rng = np.random.default_rng(3)
    vol = Volume.from_geometry(rng.integers(-1000, 1500, (4, 12, 14)).astype(np.int16), (2.0, 0.7, 0.7),
                               origin=(-5, 3, 40), modality="CT")
    write_series(vol, tmp_path / "in" / "ct", patient_name="KOWALSKI^ANNA", patient_id="MRN-583920",
                 uid_seed="exp")
    image = load_series(tmp_path / "in" / "ct")
    mask = np.zeros(image.shape, np.uint8)
    mask[1:3, 3:6, 3:6] = 1
    seg = write_seg({"lesion": image.with_array(mask)}, tmp_path / "in" / "ct", tmp_path / "in" / "seg.dcm")
    write_parametric_map(image.with_array(rng.random(image.shape).astype(np.float32)), tmp_path / "in" / "ct",
                         tmp_path / "in" / "pm.dcm", method="saliency")
    write_sr(tmp_path / "in" / "ct", tmp_path / "in" / "sr.dcm", seg=seg, prediction=0.7, risk_score=0.2)
    result = Deidentifier(PseudonymMap()).folder(tmp_path / "in", tmp_path / "out", progress=False)
    assert result.phi_clean and result.problems.empty
    by_modality: dict[str, list] = {}
    for p in result["destination"]:
        by_modality.setdefault(str(pydicom.dcmread(p, stop_before_pixels=True).Modality), []).append(p)
    return tmp_path / "in", image, by_modality


def test_the_series_and_seg_read_back_identically(exported):
    src, image, out = exported
    ct = load_series(out["CT"])
    np.testing.assert_array_equal(ct.array, image.array)
    np.testing.assert_allclose(ct.affine, image.affine, atol=1e-6)
    before, after = read_seg(src / "seg.dcm", reference=image), read_seg(out["SEG"][0], reference=ct)
    assert list(after) == list(before) == ["lesion"]
    np.testing.assert_array_equal(after["lesion"].array, before["lesion"].array)


def test_the_parametric_map_reads_back_identically(exported):
    src, image, out = exported
    ct = load_series(out["CT"])
    pm_file = next(p for ps in out.values() for p in ps if "FloatPixelData" in pydicom.dcmread(p))
    before, after = read_parametric_map(src / "pm.dcm", reference=image), read_parametric_map(pm_file, reference=ct)
    np.testing.assert_array_equal(after.array, before.array)
    assert after.meta["method"] == before.meta["method"] == "saliency"


def test_the_sr_keeps_its_measurements_algorithm_and_tracking_ids(exported):
    src, _, out = exported
    before, after = read_sr(src / "sr.dcm"), read_sr(out["SR"][0])
    cols = ["group", "name", "code", "value", "unit", "algorithm", "algorithm_version"]
    assert after[cols].equals(before[cols])
    assert set(after["seg_uid"].dropna()) == {str(pydicom.dcmread(out["SEG"][0]).SOPInstanceUID)}
