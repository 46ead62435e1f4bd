"""Errors raised while reading DICOM; each message names the bad value and the fix."""

from __future__ import annotations

__all__ = [
    "DicomError",
    "DicomReadError",
    "SeriesGeometryError",
    "MixedSeriesError",
    "UnsupportedTransferSyntaxError",
    "NotAnImageError",
]


class DicomError(ValueError):
    """Base class of every DICOM reading error in medwb."""


class DicomReadError(DicomError):
    """A file is not DICOM, is truncated, or lacks what an image needs (pixel data, rows...)."""


class SeriesGeometryError(DicomError):
    """The slices of a series do not form a regular grid (gap, duplicate, tilt, mixed sizes...)."""


class MixedSeriesError(DicomError):
    """Several series (or a series mixed with other objects) where one series was expected."""


class UnsupportedTransferSyntaxError(DicomReadError):
    """The pixel data is encoded in a transfer syntax that no installed decoder handles."""


class NotAnImageError(DicomError):
    """The object is DICOM but not an image (SR, SEG, RTSTRUCT, presentation state, ...)."""
