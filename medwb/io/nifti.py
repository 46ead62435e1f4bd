"""Read and write NIfTI-1 files (.nii, .nii.gz) as Volumes.

NIfTI world space is RAS (+x right, +y anterior); medwb's is LPS, so the first two world axes flip
on the way in and out. NIfTI voxel axes (i, j, k) are medwb's (column, row, slice): the data array is
``volume.array.transpose(2, 1, 0)``, as ITK/SimpleITK write it, so FSL, ITK-SNAP and 3D Slicer show
our files the right way round. Only headers and voxels: no resampling, no DICOM.
See docs/geometry.md for the full convention.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from medwb.volume import GeometryError, Volume

if TYPE_CHECKING:  # pragma: no cover
    import nibabel as nib

__all__ = [
    "load_nifti",
    "save_nifti",
    "volume_to_nifti",
    "nifti_to_volume",
    "NiftiOrientationWarning",
    "LPS_TO_RAS",
    "IJK_TO_SRC",
]

#: World flip between LPS (medwb, DICOM, ITK) and RAS (NIfTI); it is its own inverse.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Index permutation (i, j, k, 1) -> (slice, row, column, 1); also its own inverse.
IJK_TO_SRC = np.array([[0.0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])

_DESCRIP_PREFIX = "medwb modality="


class NiftiOrientationWarning(UserWarning):
    """The NIfTI header's qform and sform disagree, or neither is set."""


def _is_orthogonal(m: np.ndarray, tol: float = 1e-4) -> bool:
    cols = m / np.linalg.norm(m, axis=0)[None, :]
    return bool(np.allclose(cols.T @ cols, np.eye(3), atol=tol))


def volume_to_nifti(volume: Volume, *, code: int = 1) -> nib.Nifti1Image:
    """Build a nibabel Nifti1Image from a Volume (see the module docstring for the mapping).

    Both sform and qform carry the affine with ``code`` (1 scanner, 2 aligned); a sheared affine
    (gantry tilt) goes only in the sform, since a qform cannot hold shear. bool voxels are written
    as uint8 and float16 as float32 (NIfTI-1 has neither); every other dtype is kept.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 1.0, 0.5))
        >>> volume_to_nifti(v).shape  # (i, j, k) = (column, row, slice)
        (5, 4, 3)
    """
    import nibabel as nib

    if code not in (1, 2, 3, 4, 5):
        raise ValueError(
            f"NIfTI xform code must be 1 (scanner), 2 (aligned), 3 (Talairach), 4 (MNI) or 5 "
            f"(template), got {code!r}"
        )
    arr = volume.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    data = arr.transpose(2, 1, 0)  # (i, j, k) = (column, row, slice); F-contiguous if arr is C
    affine = LPS_TO_RAS @ volume.affine @ IJK_TO_SRC
    img = nib.Nifti1Image(data, None, dtype=data.dtype)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code=code)
    if _is_orthogonal(affine[:3, :3]):
        img.set_qform(affine, code=code)
    else:
        img.header.set_qform(None, code=0)
        img.header.set_zooms(tuple(float(z) for z in np.linalg.norm(affine[:3, :3], axis=0)))
    img.header["descrip"] = (_DESCRIP_PREFIX + volume.modality)[:79].encode()
    return img


def _choose_affine(
    img: nib.Nifti1Image, prefer: Literal["sform", "qform"], name: str
) -> tuple[np.ndarray, str]:
    hdr = img.header
    s_code, q_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    sform = hdr.get_sform() if s_code > 0 else None
    qform = hdr.get_qform() if q_code > 0 else None
    if sform is not None and qform is not None:
        if not np.allclose(sform, qform, rtol=1e-5, atol=1e-3):
            warnings.warn(
                f"{name}: the NIfTI qform (code {q_code}) and sform (code {s_code}) disagree; "
                f"using the {prefer}.\nqform:\n{np.round(qform, 4)}\nsform:\n{np.round(sform, 4)}\n"
                f"Fix: pass prefer={'qform' if prefer == 'sform' else 'sform'!r} if that one is right.",
                NiftiOrientationWarning,
                stacklevel=3,
            )
        return (sform, "sform") if prefer == "sform" else (qform, "qform")
    if sform is not None:
        return sform, "sform"
    if qform is not None:
        return qform, "qform"
    warnings.warn(
        f"{name}: the NIfTI header sets neither qform nor sform (both codes 0), so it has no "
        "orientation; using nibabel's default (voxel sizes only, centred, x flipped).\n"
        "Fix: do not trust left/right on this image; rewrite it with its real geometry.",
        NiftiOrientationWarning,
        stacklevel=3,
    )
    return hdr.get_base_affine(), "none"


def nifti_to_volume(
    img: nib.Nifti1Pair,
    *,
    prefer: Literal["sform", "qform"] = "sform",
    frame: int | None = None,
    modality: str | None = None,
    name: str = "NIfTI image",
) -> Volume:
    """Turn a nibabel NIfTI image into a Volume (LPS, axes slice, row, column).

    Args:
        prefer: which header transform wins when both are set and disagree (a warning says so).
        frame: for 4D files (fMRI, DWI), which volume along the fourth axis to take.
        modality: overrides the modality medwb stored in ``descrip`` (else "OT").
        name: how warnings and errors refer to the image (load_nifti passes the path).

    Voxels keep their stored dtype unless the header scales them (scl_slope), then float.

    Example:
        >>> import numpy as np, nibabel as nib
        >>> img = nib.Nifti1Image(np.zeros((5, 4, 3), np.float32), np.diag([0.5, 1.0, 2.0, 1.0]))
        >>> v = nifti_to_volume(img)
        >>> v.shape, v.spacing
        ((3, 4, 5), (2.0, 1.0, 0.5))
    """
    import nibabel as nib

    if prefer not in ("sform", "qform"):
        raise ValueError(f"prefer must be 'sform' or 'qform', got {prefer!r}")
    if not isinstance(img, nib.Nifti1Pair):
        raise TypeError(
            f"{name} is a {type(img).__name__}, not a NIfTI image.\n"
            "Fix: convert it first, e.g. nibabel.Nifti1Image(img.get_fdata(), img.affine)."
        )
    data = np.asanyarray(img.dataobj)
    if isinstance(data, np.memmap):
        data = np.array(data)
    if data.ndim == 2:
        data = data[:, :, None]
    elif data.ndim > 3:
        extra = data.shape[3:]
        if frame is None and all(n == 1 for n in extra):
            data = data.reshape(data.shape[:3])
        elif frame is not None and data.ndim == 4:
            if not -extra[0] <= frame < extra[0]:
                raise IndexError(f"{name} has {extra[0]} frames, frame={frame} is out of range")
            data = data[..., frame]
        else:
            raise GeometryError(
                f"{name} is {data.ndim}D with shape {data.shape}; a Volume is one 3D image.\n"
                "Fix: pick a volume with load_nifti(path, frame=N) (4D only), or split it with nibabel."
            )
    elif data.ndim != 3:
        raise GeometryError(f"{name} has {data.ndim} dimensions (shape {data.shape}); expected 3")
    affine_ras, which = _choose_affine(img, prefer, name)
    affine = LPS_TO_RAS @ np.asarray(affine_ras, dtype=np.float64) @ IJK_TO_SRC
    array = np.ascontiguousarray(data.transpose(2, 1, 0))
    if array.dtype.byteorder not in ("=", "|"):  # big-endian files, and nibabel's explicit '<'
        array = array.astype(array.dtype.newbyteorder("="))
    descrip = bytes(img.header["descrip"].item()).decode("latin-1", "replace").strip("\x00 ")
    if modality is None:
        modality = descrip[len(_DESCRIP_PREFIX) :].split()[0] if descrip.startswith(_DESCRIP_PREFIX) else "OT"
    meta = {"source": name, "nifti_transform": which}
    if descrip and not descrip.startswith(_DESCRIP_PREFIX):
        meta["description"] = descrip
    return Volume(array, affine, modality or "OT", meta)


def load_nifti(
    path: str | Path,
    *,
    prefer: Literal["sform", "qform"] = "sform",
    frame: int | None = None,
    modality: str | None = None,
) -> Volume:
    """Read a .nii or .nii.gz file into a Volume (world in LPS mm, axes slice, row, column).

    The sform is used when set, else the qform; when both are set and disagree a
    NiftiOrientationWarning shows both and ``prefer`` decides.

    Example:
        >>> import nibabel as nib
        >>> ras = np.diag([-0.5, -1.0, 2.0, 1.0])              # i to the right, j anterior, k up (RAS)
        >>> nib.save(nib.Nifti1Image(np.zeros((5, 4, 3), np.int16), ras), tmp_path / "ct.nii.gz")
        >>> v = load_nifti(tmp_path / "ct.nii.gz")
        >>> v.shape, v.spacing                                  # (slice, row, column) = (k, j, i)
        ((3, 4, 5), (2.0, 1.0, 0.5))
        >>> v.affine[:3, 2], v.affine[:3, 1]                    # column = +L, row = +P in LPS
        (array([0.5, 0. , 0. ]), array([0., 1., 0.]))
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NIfTI file at {path}")
    try:
        img = nib.load(str(path), mmap=False)
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise ValueError(
            f"{path} is not a readable NIfTI file ({type(exc).__name__}: {exc}).\n"
            "Fix: check the file is .nii/.nii.gz (a DICOM folder loads with medwb.io.dicom.load_series)."
        ) from exc
    if not isinstance(img, nib.Nifti1Pair):  # also .hdr/.img pairs and NIfTI-2
        raise ValueError(f"{path} is a {type(img).__name__}, not NIfTI; convert it to .nii first")
    return nifti_to_volume(img, prefer=prefer, frame=frame, modality=modality, name=str(path))


def save_nifti(volume: Volume, path: str | Path, *, code: int = 1) -> Path:
    """Write a Volume as NIfTI-1; ``.nii.gz`` compresses. Returns the path written.

    World coordinates round-trip to float32 precision (NIfTI-1 stores its transforms in float32:
    about 1e-5 mm at 100 mm from the origin). dtype is kept (bool -> uint8, float16 -> float32).

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16))
        >>> import pathlib, tempfile
        >>> p = save_nifti(v, pathlib.Path(tempfile.mkdtemp()) / "ct.nii.gz")
        >>> load_nifti(p).same_grid(v), load_nifti(p).array.dtype
        (True, dtype('int16'))
    """
    path = Path(path)
    if not path.name.endswith((".nii", ".nii.gz")):
        raise ValueError(f"NIfTI file names end in .nii or .nii.gz, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    volume_to_nifti(volume, code=code).to_filename(str(path))
    return path
