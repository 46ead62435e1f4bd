"""Hand a Volume to other libraries and take it back: torch, nibabel, SimpleITK, ITK, highdicom.

Each pair keeps voxels and geometry exactly (docs/geometry.md has the mappings):

* torch: tensor (N=1, C=1, D, H, W) = (slice, row, column); geometry stays with the Volume you
  pass back to from_torch.
* nibabel: data axes (i, j, k) = (column, row, slice), affine in RAS (medwb.io.nifti).
* SimpleITK / ITK: x, y, z = column, row, slice; GetArrayFromImage is our array unchanged;
  direction matrix columns = our direction columns reversed; origin identical (both LPS).
* highdicom.Volume: the same convention as medwb (axes slice, row, column; affine to LPS).

Every library is imported inside the function that needs it, so ``import medwb`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from medwb.volume import GeometryError, Volume

if TYPE_CHECKING:  # pragma: no cover
    import highdicom
    import nibabel
    import SimpleITK
    import torch

__all__ = [
    "to_torch",
    "from_torch",
    "to_nibabel",
    "from_nibabel",
    "to_sitk",
    "from_sitk",
    "to_itk",
    "from_itk",
    "to_highdicom",
    "from_highdicom",
]

_MODALITY_TAG = "0008|0060"


# -- torch --------------------------------------------------------------------------------------
def to_torch(
    volume: Volume,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    add_batch_channel: bool = True,
) -> torch.Tensor:
    """The voxels as a torch tensor (1, 1, D, H, W) = (batch, channel, slice, row, column).

    Args:
        dtype: default torch.float32.
        device: e.g. "cuda"; default CPU.
        add_batch_channel: False gives (D, H, W).

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16))
        >>> to_torch(v).shape
        torch.Size([1, 1, 3, 4, 5])
    """
    import torch

    arr = np.ascontiguousarray(volume.array)
    if not arr.flags.writeable:  # e.g. a cohort's cached voxels: the tensor must not share (and write) them
        arr = arr.copy()
    if arr.dtype == np.uint16:  # torch has limited uint16 support: widen losslessly
        arr = arr.astype(np.int32)
    elif arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    t = torch.from_numpy(arr).to(device=device, dtype=dtype or torch.float32)
    return t[None, None] if add_batch_channel else t


def from_torch(tensor: torch.Tensor, like: Volume, **meta: Any) -> Volume:
    """A tensor on ``like``'s grid back as a Volume (e.g. a prediction or an attribution map).

    Accepts (D, H, W), (1, D, H, W) or (1, 1, D, H, W); the tensor is detached and moved to CPU.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 1.0, 1.0))
        >>> from_torch(to_torch(v) + 1, like=v).same_grid(v)
        True
    """
    if hasattr(tensor, "detach"):
        import torch

        t = tensor.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()  # numpy has no bfloat16
        arr = t.numpy()
    else:
        arr = np.asarray(tensor)
    while arr.ndim > 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != like.shape:
        raise GeometryError(
            f"tensor of shape {tuple(tensor.shape)} does not fit the grid of shape {like.shape}.\n"
            "Fix: pass a (D, H, W) or (1, 1, D, H, W) tensor on that grid; for several channels pick "
            "one (tensor[:, c]); for another grid wrap it with Volume(array, affine) directly."
        )
    return like.with_array(np.ascontiguousarray(arr), **meta)


# -- nibabel ------------------------------------------------------------------------------------
def to_nibabel(volume: Volume, *, code: int = 1) -> nibabel.Nifti1Image:
    """A nibabel Nifti1Image (RAS affine, data axes column, row, slice); see medwb.io.nifti."""
    from medwb.io.nifti import volume_to_nifti

    return volume_to_nifti(volume, code=code)


def from_nibabel(img: nibabel.Nifti1Image, *, prefer: str = "sform", frame: int | None = None) -> Volume:
    """A Volume from a nibabel NIfTI image (sform preferred; see medwb.io.nifti.nifti_to_volume)."""
    from medwb.io.nifti import nifti_to_volume

    return nifti_to_volume(img, prefer=prefer, frame=frame, name="nibabel image")  # type: ignore[arg-type]


# -- SimpleITK ----------------------------------------------------------------------------------
def to_sitk(volume: Volume) -> SimpleITK.Image:
    """A SimpleITK image: x, y, z = column, row, slice; origin and world (LPS) identical.

    bool voxels become uint8 and float16 float32 (SimpleITK has neither).

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 1.0, 0.5))
        >>> to_sitk(v).GetSize(), to_sitk(v).GetSpacing()
        ((5, 4, 3), (0.5, 1.0, 2.0))
    """
    import SimpleITK as sitk

    arr = volume.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    img.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    img.SetOrigin(volume.origin)
    img.SetDirection(tuple(float(d) for d in volume.direction[:, ::-1].ravel()))
    img.SetMetaData(_MODALITY_TAG, volume.modality)
    return img


def _from_xyz(
    arr: np.ndarray, spacing_xyz: tuple, origin: tuple, direction_xyz: np.ndarray, modality: str, meta: dict
) -> Volume:
    dim = len(spacing_xyz)
    if dim == 2:  # one slice: the slice axis is the normal of the image plane, 1 mm
        d2 = np.asarray(direction_xyz, dtype=np.float64).reshape(2, 2)
        d = np.eye(3)
        d[:2, :2] = d2
        spacing_xyz = (*spacing_xyz, 1.0)
        origin = (*origin, 0.0)
        arr = arr[None]
    elif dim == 3:
        d = np.asarray(direction_xyz, dtype=np.float64).reshape(3, 3)
    else:
        raise GeometryError(
            f"a Volume is 3D, the image is {dim}D (shape {arr.shape}).\n"
            "Fix: extract one 3D image first (SimpleITK: image[:, :, :, t])."
        )
    affine = np.eye(4)
    affine[:3, :3] = (d * np.asarray(spacing_xyz, dtype=np.float64)[None, :])[:, ::-1]
    affine[:3, 3] = origin
    return Volume(np.ascontiguousarray(arr), affine, modality, meta)


def from_sitk(image: SimpleITK.Image, *, modality: str | None = None) -> Volume:
    """A Volume from a SimpleITK image (copies the voxels); 2D images become one slice.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 1.0, 0.5))
        >>> from_sitk(to_sitk(v)).same_grid(v)
        True
    """
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() != 1:
        raise GeometryError(
            f"the SimpleITK image has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
            "a Volume holds one.\nFix: sitk.VectorIndexSelectionCast(image, k) picks component k."
        )
    if modality is None:
        modality = image.GetMetaData(_MODALITY_TAG).strip() if image.HasMetaDataKey(_MODALITY_TAG) else "OT"
    arr = sitk.GetArrayFromImage(image)
    return _from_xyz(
        arr, image.GetSpacing(), image.GetOrigin(), np.array(image.GetDirection()), modality or "OT",
        {"source": "SimpleITK"},
    )


# -- ITK (optional) -----------------------------------------------------------------------------
def _import_itk() -> Any:
    try:
        import itk
    except ImportError as exc:
        raise ImportError(
            "to_itk/from_itk need the ITK Python package, which is not installed.\n"
            "Fix: pip install itk   (or use to_sitk(), which needs only SimpleITK)"
        ) from exc
    return itk


def to_itk(volume: Volume) -> Any:
    """An itk.Image (ITK Python, an optional extra): same mapping as to_sitk."""
    itk = _import_itk()
    arr = volume.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    img = itk.image_from_array(np.ascontiguousarray(arr))
    img.SetSpacing([float(s) for s in volume.spacing[::-1]])
    img.SetOrigin([float(o) for o in volume.origin])
    img.SetDirection(itk.matrix_from_array(np.ascontiguousarray(volume.direction[:, ::-1])))
    return img


def from_itk(image: Any, *, modality: str = "OT") -> Volume:
    """A Volume from an itk.Image (copies the voxels)."""
    itk = _import_itk()
    arr = np.asarray(itk.array_from_image(image))
    direction = np.asarray(itk.array_from_matrix(image.GetDirection()), dtype=np.float64)
    return _from_xyz(
        arr, tuple(image.GetSpacing()), tuple(image.GetOrigin()), direction, modality, {"source": "ITK"}
    )


# -- highdicom ----------------------------------------------------------------------------------
def to_highdicom(volume: Volume, *, frame_of_reference_uid: str | None = None) -> highdicom.Volume:
    """A highdicom.Volume (same axes and LPS affine), e.g. to build a SEG or Parametric Map.

    highdicom needs an orthogonal grid, so a sheared (gantry-tilt) volume raises GeometryError.

    Example:
        >>> import numpy as np
        >>> v = Volume.from_geometry(np.zeros((3, 4, 5), np.int16), spacing=(2.0, 1.0, 0.5))
        >>> to_highdicom(v).spacing
        (2.0, 1.0, 0.5)
    """
    import highdicom

    cols = volume.direction
    if not np.allclose(cols.T @ cols, np.eye(3), atol=1e-4):
        raise GeometryError(
            "highdicom needs orthogonal voxel axes, but this volume is sheared (e.g. gantry tilt); "
            f"direction:\n{np.round(cols, 4)}\n"
            "Fix: resample onto an orthogonal grid first, e.g. transforms.resample_like(volume, ref)."
        )
    for_uid = frame_of_reference_uid or volume.meta.get("frame_of_reference_uid")
    return highdicom.Volume(
        np.ascontiguousarray(volume.array),
        volume.affine.copy(),
        coordinate_system="PATIENT",
        frame_of_reference_uid=for_uid,
    )


def from_highdicom(hd_volume: highdicom.Volume, *, modality: str = "OT") -> Volume:
    """A Volume from a highdicom.Volume in the PATIENT coordinate system, without channels."""
    system = str(getattr(hd_volume.coordinate_system, "value", hd_volume.coordinate_system))
    if system.upper() != "PATIENT":
        raise GeometryError(
            f"the highdicom volume lives in the {system} coordinate system; medwb volumes are in "
            "patient (LPS) coordinates.\nFix: only patient-space volumes convert."
        )
    if hd_volume.array.ndim != 3:
        raise GeometryError(
            f"the highdicom volume has channel axes (shape {hd_volume.shape}); a Volume is 3D.\n"
            "Fix: pick one with hd_volume.get_channel(...) or hd_volume.squeeze_channel()."
        )
    meta: dict[str, Any] = {"source": "highdicom"}
    if hd_volume.frame_of_reference_uid:
        meta["frame_of_reference_uid"] = str(hd_volume.frame_of_reference_uid)
    return Volume(np.array(hd_volume.array), np.array(hd_volume.affine), modality, meta)
