"""TID 1500 SR export: lesion volumes per SEG segment, prediction, risk score, model identity."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from medwb import Volume
from medwb.export.seg import write_seg
from medwb.export.series import write_series
from medwb.export.sr import read_sr, write_sr
from medwb.io.dicom import load_series


@pytest.fixture
def case(tmp_path):
    v = Volume.from_geometry(np.zeros((6, 16, 16), np.int16), (2.5, 0.5, 0.6), origin=(0, 0, 0), modality="CT")
    write_series(v, tmp_path / "image", uid_seed="sr", instance_order=[5, 4, 3, 2, 1, 0])
    image = load_series(tmp_path / "image")
    a = np.zeros(image.shape, np.uint8)
    a[1:3, 2:6, 2:7] = 1  # 2*4*5 = 40 voxels
    b = np.zeros(image.shape, np.uint8)
    b[4, 8:11, 8:10] = 1  # 6 voxels
    seg = write_seg({"lesion 1": image.with_array(a), "lesion 2": image.with_array(b)}, tmp_path / "image",
                    tmp_path / "seg.dcm")
    return tmp_path, image, seg


def test_report_records_lesion_volumes_from_the_seg(case):
    tmp, image, seg = case
    path = write_sr(tmp / "image", tmp / "sr.dcm", seg=seg, model="unet-demo", model_version="2")
    table = read_sr(path)
    voxel = 2.5 * 0.5 * 0.6
    vols = table[table["name"] == "Volume"].set_index("group")["value"]
    assert vols["lesion 1"] == pytest.approx(40 * voxel) and vols["lesion 2"] == pytest.approx(6 * voxel)
    assert set(table["unit"]) == {"mm3"}
    assert table.set_index("group")["segment_number"].to_dict() == {"lesion 1": 1, "lesion 2": 2}
    assert set(table["seg_uid"]) == {str(pydicom.dcmread(seg).SOPInstanceUID)}


def test_report_records_prediction_risk_and_model_identity(case):
    tmp, image, seg = case
    path = write_sr(tmp / "image", tmp / "sr.dcm", seg=seg, prediction=0.83, risk_score=-0.4,
                    model="densenet-demo", model_version="3.1", model_parameters={"epochs": 20})
    table = read_sr(path)
    by_name = table.set_index("name")
    assert by_name.loc["Predicted probability", "value"] == pytest.approx(0.83)
    assert by_name.loc["Risk score", "value"] == pytest.approx(-0.4)
    assert set(table["algorithm"]) == {"densenet-demo"} and set(table["algorithm_version"]) == {"3.1"}
    assert all(p == ["epochs=20"] for p in table["algorithm_parameters"])


def test_report_is_a_comprehensive_3d_sr_referencing_image_and_seg(case):
    tmp, image, seg = case
    ds = pydicom.dcmread(write_sr(tmp / "image", tmp / "sr.dcm", seg=seg, prediction=0.1))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.StudyInstanceUID == image.meta["study_uid"]
    evidence = {s.SeriesInstanceUID for st in ds.CurrentRequestedProcedureEvidenceSequence
                for s in st.ReferencedSeriesSequence}
    assert evidence == {image.meta["series_uid"], str(pydicom.dcmread(seg).SeriesInstanceUID)}


def test_out_of_range_probability_is_refused(case):
    tmp, image, seg = case
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        write_sr(tmp / "image", tmp / "sr.dcm", prediction=1.7)


def test_empty_report_is_refused(case):
    tmp, _, _ = case
    with pytest.raises(ValueError, match="nothing to report"):
        write_sr(tmp / "image", tmp / "sr.dcm")
