"""One entry point for images on disk: load_volume(path) -> Volume.

It recognises a DICOM series folder, a list of DICOM files, a multi-frame DICOM file or a NIfTI file
(.nii / .nii.gz) and hands the work to medwb.io.dicom or medwb.io.nifti. It holds no reading logic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medwb.volume import Volume

__all__ = ["load_volume"]

_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _is_nifti(p: Path) -> bool:
    return p.name.lower().endswith(_NIFTI_SUFFIXES)


def load_volume(path: str | os.PathLike | Sequence[str | os.PathLike], **kwargs: Any) -> Volume:
    """Load an image as a Volume, whatever its container.

    Args:
        path: a folder holding one DICOM series (searched recursively), a list of DICOM files of one
            series, one multi-frame DICOM file (Enhanced CT/MR, legacy multi-frame), or a NIfTI file.
        **kwargs: passed on to load_series (on_gap=, on_tilt=, progress=) for DICOM.

    Raises:
        medwb.io.dicom.MixedSeriesError: a folder with several image series (the message lists them
            and says how to pick one).
        medwb.io.dicom.DicomReadError: a file given by name that cannot be used (damaged or truncated
            pixels, palette colour, a TransferSyntaxUID that is no transfer syntax, a RescaleSlope that is
            not a finite number); in a folder such files are skipped with a warning that names them, and
            ``medwb.scan_dicom(folder).problems`` gives each its reason.

    Example:
        >>> import numpy as np, tempfile
        >>> from medwb.export.series import write_series
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_series(Volume.from_geometry(np.zeros((3, 4, 4), np.int16), modality="CT"), folder)
        >>> load_volume(folder).shape
        (3, 4, 4)
    """
    from medwb.io.dicom.series import load_series

    if isinstance(path, (str, os.PathLike)):
        p = Path(path)
        if p.is_file() and _is_nifti(p):
            from medwb.io.nifti import load_nifti

            if kwargs:
                raise TypeError(f"options {sorted(kwargs)} apply to DICOM only; {p.name} is NIfTI.")
            return load_nifti(p)
        return load_series(p, **kwargs)
    files = [Path(f) for f in path]
    nifti = [f for f in files if _is_nifti(f)]
    if nifti:
        raise ValueError(
            f"a list of files must be DICOM files of one series; got NIfTI {nifti[0]}.\n"
            "Fix: load a NIfTI file on its own: load_volume(path)."
        )
    return load_series(files, **kwargs)
