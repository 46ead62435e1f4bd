"""Read DICOM folders into Volumes.

scan() indexes a folder tree from headers alone; load_series() turns one series into a Volume.
Geometry follows medwb.volume (axes slice, row, column; affine to LPS millimetres).
Writing DICOM lives in medwb.export.

The work is split by concern: scan (the index), series (series -> Volume), pixels and fast (file
reading), geometry (slice positions -> grid), header (headers), errors (the error classes). This module
is the one to import.

Example:
    >>> from medwb.io.dicom import scan, load_series          # doctest: +SKIP
    >>> idx = scan("/data/dicom")                             # doctest: +SKIP
    >>> idx.problems                                          # doctest: +SKIP
    >>> volume = idx.load(idx.series.series_uid[0])           # doctest: +SKIP
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
from medwb.io.dicom.scan import DicomIndex, scan
from medwb.io.dicom.series import list_files, load_series

__all__ = [
    "scan",
    "load_series",
    "list_files",
    "DicomIndex",
    "DicomError",
    "DicomReadError",
    "SeriesGeometryError",
    "MixedSeriesError",
    "UnsupportedTransferSyntaxError",
    "NotAnImageError",
]
