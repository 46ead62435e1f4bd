"""Crafted sources and SEGs against export: stripped sources still export, SEG frames land by geometry.

SimpleITK resampling (nearest neighbour) is the oracle for where a SEG written in another orientation
belongs on the reference grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from medwb import Volume
from medwb.export.pmap import read_parametric_map, write_parametric_map
from medwb.export.seg import read_seg, write_seg
from medwb.export.series import write_series
from medwb.export.sr import read_sr, write_sr
from medwb.io.dicom import load_series
from medwb.volume import GeometryError

from . import crafted

#: Type 2 attributes of the Patient and General Study modules (PS3.3 C.7.1.1, C.7.2.1).
TYPE2_FROM_SOURCE = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                     "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _stripped_source(folder: Path) -> Volume:
    """A crafted series without any Type 2 patient / study attribute (as some anonymisers leave it)."""
    for path in crafted.series(folder, n=5, rows=8, cols=7):
        ds = pydicom.dcmread(path)
        for keyword in TYPE2_FROM_SOURCE:
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(path)
    assert not any(k in pydicom.dcmread(path) for k in TYPE2_FROM_SOURCE)
    return load_series(folder)


def _mask(image: Volume) -> Volume:
    m = np.zeros(image.shape, np.uint8)
    m[1, 2:5, 1:3] = 1
    m[3, 5:7, 4:6] = 1
    return image.with_array(m)


def _write(kind: str, image: Volume, source: Path, out: Path) -> Path:
    if kind == "SEG":
        return write_seg({"lesion": _mask(image)}, source, out / "seg.dcm")
    if kind == "PM":
        return write_parametric_map(_mask(image).with_array(_mask(image).array * 0.5), source, out / "pm.dcm",
                                    method="saliency")
    seg = write_seg({"lesion": _mask(image)}, source, out / "seg.dcm")
    return write_sr(source, out / "sr.dcm", seg=seg, prediction=0.25)


@pytest.mark.parametrize("kind", ["SEG", "PM", "SR"])
def test_export_from_a_source_without_type2_attributes_fills_them_empty(tmp_path, kind):
    image = _stripped_source(tmp_path / "image")
    path = _write(kind, image, tmp_path / "image", tmp_path / "out")
    ds = pydicom.dcmread(path)
    for keyword in TYPE2_FROM_SOURCE:
        assert keyword in ds, keyword  # Type 2: present ...
        assert str(ds[keyword].value or "") == "", keyword  # ... and empty, since the source had no value
    assert ds.StudyInstanceUID == crafted.STUDY
    if kind == "SEG":
        np.testing.assert_array_equal(read_seg(path, reference=image)["lesion"].array, _mask(image).array)
    elif kind == "PM":
        np.testing.assert_allclose(read_parametric_map(path, reference=image).array, _mask(image).array * 0.5)
    else:
        assert read_sr(path)["value"].tolist()[-1] == pytest.approx(0.25)


def test_source_datasets_given_by_the_caller_are_not_changed(tmp_path):
    image = _stripped_source(tmp_path / "image")
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted((tmp_path / "image").iterdir())]
    write_seg({"lesion": _mask(image)}, sources, tmp_path / "seg.dcm")
    assert not any(k in d for d in sources for k in TYPE2_FROM_SOURCE)


def _axial(folder: Path) -> Volume:
    """A 6-slice axial CT, square in-plane (a transposition keeps the shape) with unequal pixel spacing."""
    arr = np.random.default_rng(3).integers(-100, 100, (6, 12, 12)).astype(np.int16)
    v = Volume.from_geometry(arr, (2.5, 0.8, 0.7), origin=(-20.0, 10.0, 40.0), modality="CT")
    write_series(v, folder, uid_seed="corpus-axial")
    return load_series(folder)


def _transposed(volume: Volume) -> Volume:
    """The same voxels in space, rows and columns swapped (IOP row and column cosines exchanged)."""
    affine = volume.affine.copy()
    affine[:3, [1, 2]] = affine[:3, [2, 1]]
    return Volume(np.ascontiguousarray(volume.array.transpose(0, 2, 1)), affine, volume.modality)


def _sitk_on_reference(moving_folder: Path, reference_folder: Path) -> np.ndarray:
    """SimpleITK: read both series and resample the moving one onto the reference, nearest neighbour."""
    import SimpleITK as sitk

    def read(folder: Path) -> sitk.Image:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
        return reader.Execute()

    out = sitk.Resample(read(moving_folder), read(reference_folder), sitk.Transform(), sitk.sitkNearestNeighbor,
                        -1)
    return sitk.GetArrayFromImage(out)


def test_read_seg_places_frames_of_a_transposed_seg_by_geometry(tmp_path):
    image = _axial(tmp_path / "axial")
    mask = _mask(image)
    assert not np.array_equal(mask.array, mask.array.transpose(0, 2, 1))  # a swap would show
    other = _transposed(image)
    write_series(other, tmp_path / "transposed", uid_seed="corpus-transposed")
    other_mask = _transposed(mask)
    write_series(other_mask.with_array(other_mask.array.astype(np.int16)), tmp_path / "mask-transposed",
                 uid_seed="corpus-mask")  # the same mask as a CT series, for SimpleITK
    seg_path = write_seg({"lesion": other_mask}, tmp_path / "transposed", tmp_path / "seg.dcm")
    seg = pydicom.dcmread(seg_path)
    iop = seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    np.testing.assert_allclose([float(v) for v in iop], [0, 1, 0, 1, 0, 0], atol=1e-6)

    back = read_seg(seg_path, reference=image)["lesion"]
    oracle = _sitk_on_reference(tmp_path / "mask-transposed", tmp_path / "axial")
    np.testing.assert_array_equal(oracle, mask.array)  # the oracle agrees with the truth ...
    np.testing.assert_array_equal(back.array, oracle)  # ... and so does read_seg
    assert back.same_grid(image)


def test_read_seg_refuses_a_seg_whose_frames_are_oblique_to_the_reference(tmp_path):
    image = _axial(tmp_path / "axial")
    a = np.radians(30)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = image.affine.copy()
    affine[:3, :3] = rotation @ affine[:3, :3]  # rotated in-plane about the first voxel
    rotated = Volume(image.array, affine, "CT")
    write_series(rotated, tmp_path / "rotated", uid_seed="corpus-rotated")
    seg_path = write_seg({"lesion": _mask(rotated)}, tmp_path / "rotated", tmp_path / "seg.dcm",
                         omit_empty_frames=False)
    with pytest.raises(GeometryError, match="voxel for voxel") as err:
        read_seg(seg_path, reference=image)
    assert "resample_like" in str(err.value)
    own = read_seg(seg_path)["lesion"]  # on its own grid it reads as written
    np.testing.assert_array_equal(own.array, _mask(rotated).array)
