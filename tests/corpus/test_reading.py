"""Crafted files against scan() and load_volume(): each odd file is read right, or reported by file and skipped.

pydicom (pixel_array) and SimpleITK (GDCM) are the oracles for what the pixels and the geometry are.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medwb.io.dicom import DicomReadError, UnsupportedTransferSyntaxError, load_series, scan
from medwb.io.load import load_volume

from . import crafted


def _sitk(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(array, affine in medwb's convention) of a series folder as SimpleITK reads it."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    d = np.array(image.GetDirection()).reshape(3, 3)
    sx, sy, sz = image.GetSpacing()
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = d[:, 2] * sz, d[:, 1] * sy, d[:, 0] * sx
    affine[:3, 3] = image.GetOrigin()
    return sitk.GetArrayFromImage(image), affine


def _truth(n: int, rows: int = 6, cols: int = 5, dtype: str = "int16") -> np.ndarray:
    return np.stack([crafted.ramp(rows, cols, k, dtype) for k in range(n)])


def _problems(folder: Path) -> dict[str, str]:
    idx = scan(folder, progress=False)
    return {str(Path(p).relative_to(folder)): r for p, r in zip(idx.problems["path"], idx.problems["reason"])}


def test_directory_symlink_loop_is_reported_and_scan_and_load_carry_on(tmp_path):
    link = crafted.symlink_loop(tmp_path)
    idx = scan(tmp_path, progress=False)
    assert len(idx.files) == 4 and idx.series["geometry"].tolist() == ["ok"]
    assert idx.problems["path"].tolist() == [str(link)]
    assert "symlink loop" in idx.problems["reason"].iloc[0]
    with pytest.warns(UserWarning, match="not followed"):
        volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, _truth(4))


def test_a_folder_reached_twice_through_a_symlink_is_read_once(tmp_path):
    crafted.series(tmp_path / "series")
    (tmp_path / "alias").symlink_to(tmp_path / "series", target_is_directory=True)
    idx = scan(tmp_path, progress=False)
    assert len(idx.files) == 4 and idx.series["geometry"].tolist() == ["ok"]  # no duplicate slices
    assert len(idx.problems) == 1 and "listed already" in idx.problems["reason"].iloc[0]
    with pytest.warns(UserWarning, match="not followed"):
        np.testing.assert_array_equal(load_volume(tmp_path).array, _truth(4))


def test_a_file_whose_transfer_syntax_uid_is_no_transfer_syntax_is_reported_and_skipped(tmp_path):
    crafted.series(tmp_path)
    bad = crafted.bad_transfer_syntax(tmp_path / "z.dcm", k=4)
    assert set(_problems(tmp_path)) == {"z.dcm"}
    assert "transfer syntax '1.2.840.99999.1.2.1'" in _problems(tmp_path)["z.dcm"]
    with pytest.warns(UserWarning, match=r"skipped 1 unusable file.*z\.dcm"):
        volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, _truth(4))
    with pytest.raises(UnsupportedTransferSyntaxError, match="Fix: correct TransferSyntaxUID"):
        load_series([bad])


def test_deflated_images_are_read_like_pydicom_and_simpleitk_read_them(tmp_path):
    paths = [crafted.deflated(tmp_path / f"s{k}.dcm", k) for k in range(3)]
    assert pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID == pydicom.uid.DeflatedExplicitVRLittleEndian
    idx = scan(tmp_path, progress=False)
    assert idx.problems.empty and idx.series["is_image"].tolist() == [True]
    volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, _truth(3))
    np.testing.assert_array_equal(volume.array[1], pydicom.dcmread(paths[1]).pixel_array)
    array, affine = _sitk(tmp_path)
    np.testing.assert_array_equal(volume.array, array)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)


@pytest.mark.parametrize("vr", ["OB", "OW"])
def test_8bit_big_endian_pixels_keep_their_byte_order(tmp_path, vr):
    paths = [crafted.big_endian_8bit(tmp_path / f"s{k}.dcm", k, vr) for k in range(3)]
    assert pydicom.dcmread(paths[0])["PixelData"].VR == vr
    assert scan(tmp_path, progress=False).problems.empty
    volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, _truth(3, dtype="uint8"))
    np.testing.assert_array_equal(volume.array[2], pydicom.dcmread(paths[2]).pixel_array)
    np.testing.assert_array_equal(volume.array, _sitk(tmp_path)[0])


def test_palette_colour_images_are_refused_with_a_report_by_file(tmp_path):
    crafted.series(tmp_path / "grey")
    palette = crafted.palette_colour(tmp_path / "grey" / "z.dcm", k=4)
    problems = _problems(tmp_path / "grey")
    assert set(problems) == {"z.dcm"} and "PALETTE COLOR" in problems["z.dcm"]
    assert "apply_color_lut" in problems["z.dcm"]
    with pytest.warns(UserWarning, match="palette-colour"):
        volume = load_volume(tmp_path / "grey")
    np.testing.assert_array_equal(volume.array, _truth(4))
    with pytest.raises(DicomReadError, match="palette-colour image") as err:
        load_series([palette])
    assert "Fix:" in str(err.value)


_DAMAGED = {
    "short pixel element": (crafted.short_pixel_element, "holds 30 bytes, 60 needed"),
    "file cut in the pixels": (crafted.cut_file, "truncated: pixel data needs 60 bytes, only 20 present"),
    "compressed fragment cut": (crafted.cut_encapsulated, "truncated: compressed fragment"),
    "non-numeric slope": (lambda p, k: crafted.bad_rescale(p, "abc", k), "RescaleSlope 'abc' is not a number"),
    "NaN slope": (lambda p, k: crafted.bad_rescale(p, "NaN", k), "RescaleSlope is 'NaN', not a finite number"),
    "zero slope": (lambda p, k: crafted.bad_rescale(p, "0", k), "RescaleSlope is 0"),
}


@pytest.mark.parametrize("case", list(_DAMAGED))
def test_damaged_pixels_and_unusable_rescale_are_reported_by_file_and_skipped(tmp_path, case):
    make, reason = _DAMAGED[case]
    crafted.series(tmp_path)
    bad = make(tmp_path / "z.dcm", 4)
    problems = _problems(tmp_path)
    assert set(problems) == {"z.dcm"}, problems
    assert reason in problems["z.dcm"]
    with pytest.warns(UserWarning, match=r"skipped 1 unusable file.*z\.dcm"):
        volume = load_volume(tmp_path)
    np.testing.assert_array_equal(volume.array, _truth(4))  # never NaN, never rescaled with a guessed 1
    with pytest.raises(DicomReadError, match=reason.split(":")[0]):
        load_series([bad])


def test_mixed_image_sizes_are_reported_against_the_odd_file(tmp_path):
    _, odd = crafted.mixed_sizes(tmp_path, odd=2)
    problems = _problems(tmp_path)
    assert list(problems) == [odd.name]
    assert "7x9" in problems[odd.name] and "6x5" in problems[odd.name]
    assert scan(tmp_path, progress=False).series["geometry"].tolist() == ["mixed size"]


def test_clean_crafted_series_has_no_problems_and_matches_simpleitk(tmp_path):
    """The corpus's baseline: the maker's clean series reads exactly, so each odd file is the only change."""
    crafted.series(tmp_path)
    assert scan(tmp_path, progress=False).problems.empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = load_volume(tmp_path)
    array, affine = _sitk(tmp_path)
    np.testing.assert_array_equal(volume.array, _truth(4))
    np.testing.assert_array_equal(volume.array, array)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)


def test_pydicoms_own_deflated_and_palette_files_agree(tmp_path):
    """Files made by others (pydicom's test data): the deflated image reads like pydicom and SimpleITK read
    it, the palette-colour one is reported, and nothing else in that folder changes verdict."""
    import SimpleITK as sitk

    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    deflated, palette = folder / "image_dfl.dcm", folder / "examples_palette.dcm"
    with pytest.warns(UserWarning, match="no ImagePositionPatient"):  # a secondary capture: no geometry
        volume = load_volume([deflated])
    np.testing.assert_array_equal(volume.array[0], pydicom.dcmread(deflated).pixel_array)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(sitk.ReadImage(str(deflated))))
    with pytest.raises(DicomReadError, match="palette-colour"):
        load_volume([palette])
    idx = scan(folder, progress=False)
    reasons = dict(zip(idx.problems["path"], idx.problems["reason"]))
    assert str(deflated) not in reasons
    assert "PALETTE COLOR" in reasons[str(palette)]
