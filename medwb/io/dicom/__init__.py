"""Read DICOM folders into Volumes.

scan() indexes a folder tree from headers alone; load_series() turns one series into a Volume.
Geometry follows medwb.volume (axes slice, row, column; affine to LPS millimetres).
Writing DICOM lives in medwb.export.

The work is split by concern: files (walking a tree; symlink loops reported), scan (the index), series
(series -> Volume), stacking (sorting, gaps, tilt, rescale of a stack), pixels and fast (file reading),
frames (per-frame position and rescale), checks (what makes a file unusable, shared by scan and load),
geometry (slice positions -> grid), header (headers), errors (the error classes). This module is the one
to import.

Example:
    >>> from medwb.io.dicom import scan
    >>> from medwb.export.series import write_series
    >>> hu = np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8)
    >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
    >>> _ = write_series(ct, tmp_path / "series")              # 4 single-frame CT files
    >>> _ = (tmp_path / "notes.txt").write_text("not DICOM")
    >>> idx = scan(tmp_path)
    >>> idx.series[["modality", "n_files", "slice_spacing", "geometry"]].values.tolist()
    [['CT', 4, 2.5, 'ok']]
    >>> idx.problems["path"].map(lambda p: p.split("/")[-1]).tolist()   # what could not be read, and why
    ['notes.txt']
    >>> volume = idx.load(idx.series.series_uid[0])
    >>> volume.spacing, bool(np.array_equal(volume.array, hu))
    ((2.5, 0.8, 0.8), True)
"""

from __future__ import annotations

from medwb.io.dicom.errors import (
    DicomError,
    DicomReadError,
    MixedSeriesError,
    NotAnImageError,
    SeriesGeometryError,
    UnsupportedTransferSyntaxError,
)
from medwb.io.dicom.files import list_files, walk_files
from medwb.io.dicom.scan import DicomIndex, scan
from medwb.io.dicom.series import load_series

__all__ = [
    "scan",
    "load_series",
    "list_files",
    "walk_files",
    "DicomIndex",
    "DicomError",
    "DicomReadError",
    "SeriesGeometryError",
    "MixedSeriesError",
    "UnsupportedTransferSyntaxError",
    "NotAnImageError",
]
