"""The fast header walker agrees with pydicom or steps aside (returns None); it never guesses."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medwb.export.series import write_multiframe, write_series
from medwb.io.dicom.fast import parse_fast
from medwb.io.dicom.header import raw_value, read_header

TAGS = frozenset({0x00080016, 0x0020000E, 0x00200013, 0x00200032, 0x00200037, 0x00280010, 0x00280030, 0x00281052})
NAMES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
         "emri_small.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "JPEG2000.dcm", "SC_rgb.dcm"]


def _agree(path):
    with open(path, "rb") as f:
        fast = parse_fast(f, TAGS, first_chunk=256)  # tiny first chunk: exercises the re-read
    ref = read_header(path)
    if fast is None:
        return None
    for tag in TAGS:
        assert raw_value(fast.values, tag) == raw_value(ref.ds, tag), (path, hex(tag))
    assert (fast.pixel_tag, fast.pixel_offset, fast.pixel_length) == (ref.pixel_tag, ref.pixel_offset, ref.pixel_length)
    assert fast.transfer_syntax == ref.transfer_syntax
    return fast


@pytest.mark.parametrize("name", NAMES)
def test_fast_walker_matches_pydicom_on_packaged_files(name):
    fast = _agree(get_testdata_file(name))
    if name == "MR_small_bigendian.dcm":
        assert fast is None  # big endian is left to pydicom
    else:
        assert fast is not None


def test_fast_walker_skips_nested_sequences_of_enhanced_files(tmp_path, kit):
    path = write_multiframe(kit.make_volume(shape=(3, 12, 12)), tmp_path / "mf.dcm")
    fast = _agree(path)
    assert fast is not None and fast.pixel_tag == 0x7FE00010
    assert "PerFrameFunctionalGroupsSequence" in pydicom.dcmread(path, stop_before_pixels=True)


def test_fast_walker_steps_aside_on_non_dicom_and_truncated_headers(tmp_path, kit):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 50)
    with open(junk, "rb") as f:
        assert parse_fast(f, TAGS) is None
    full = write_series(kit.make_volume(shape=(1, 12, 12)), tmp_path / "s", transfer_syntax="implicit")[0]
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(full.read_bytes()[:400])  # ends inside the header
    with open(cut, "rb") as f:
        assert parse_fast(f, TAGS) is None
    assert _agree(full) is not None
