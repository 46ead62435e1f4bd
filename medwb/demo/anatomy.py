"""The demo cohort's base anatomy: a real head CT, or a procedural phantom where it is not installed.

The real scan is the "Cranium" project of the Debian package ``invesalius-examples``
(/usr/share/doc/invesalius-examples/examples/Cranium.inv3, an anonymised clinical head CT,
108 x 256 x 256 voxels of 1.5 x 0.957 x 0.957 mm, already in Hounsfield units). The project file is a
gzipped tar holding ``main.plist`` (shape, spacing) and ``matrix.dat`` (raw little-endian int16). It
is decoded in memory, never unpacked to disk, and cached once per process.

Orientation, established by looking at the slices (not stated in the file): InVesalius stores an
axial DICOM stack with each image flipped top-to-bottom (VTK convention), so in ``matrix.dat`` axis 0
runs inferior -> superior (slice 0 at the skull base / ears, slice 107 at the vertex), axis 1 runs
posterior -> anterior (the head-rest arc is at row 0, the nose and incisors at high rows), and axis 2
keeps the DICOM column direction, patient right -> left. We flip axis 1 back, so the base Volume is a
standard axial stack: slices +z (superior), rows +y (posterior), columns +x (left) in LPS.

Left/right cannot be confirmed from this (nearly symmetric) anatomy; it follows from InVesalius
keeping the DICOM column order and the usual supine head-first axial orientation (IOP 1\\0\\0\\0\\1\\0).
The demo's lesions and labels do not depend on laterality.

Set ``MEDWB_DEMO_ANATOMY=phantom`` to force the procedural phantom (tests of the fallback use it).
"""

from __future__ import annotations

import functools
import os
import plistlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medwb.volume import Volume

__all__ = ["CRANIUM_PATH", "BaseAnatomy", "load_base", "read_cranium", "head_phantom", "anatomy_masks"]

#: Where Debian's invesalius-examples installs the head CT project.
CRANIUM_PATH = Path("/usr/share/doc/invesalius-examples/examples/Cranium.inv3")


@dataclass(frozen=True)
class BaseAnatomy:
    """The unperturbed head every demo case starts from.

    Attributes:
        volume: int16 HU Volume in standard axial LPS orientation.
        smooth: float32 HU, slightly low-pass filtered copy used for resampling to the ~2 mm demo grid
            (avoids aliasing of the 0.96 mm source).
        intracranial: uint8 mask of the soft tissue inside the skull (brain, CSF, vessels).
        parenchyma: uint8 mask of brain tissue proper (intracranial, 18-60 HU, no CSF) on the slices
            where brain fills most of the skull: where lesion centres may go.
        d_skull: float32 distance (mm) of each intracranial voxel to the nearest non-intracranial one.
        d_brain: float32 distance (mm) to the nearest voxel outside the brain (sulci closed).
        center: LPS position (mm) of the head's centre, where the demo grid is centred.
        source: "invesalius-examples:Cranium.inv3" or "phantom".
    """

    volume: Volume
    smooth: np.ndarray
    intracranial: np.ndarray
    parenchyma: np.ndarray
    d_skull: np.ndarray
    d_brain: np.ndarray
    center: np.ndarray
    source: str


def read_cranium(path: str | Path = CRANIUM_PATH) -> Volume:
    """Decode the InVesalius head CT project into an int16 HU Volume (standard axial, LPS).

    Example:
        >>> v = read_cranium()            # needs Debian's invesalius-examples (skipped without it)
        >>> v.shape, [round(s, 3) for s in v.spacing], v.array.dtype
        ((108, 256, 256), [1.5, 0.957, 0.957], dtype('int16'))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"the demo head CT {path} is missing.\n"
            "Fix: `sudo apt-get install invesalius-examples`, or let medwb.demo use its phantom "
            "(MEDWB_DEMO_ANATOMY=phantom)."
        )
    plist: dict | None = None
    raw: bytes | None = None
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            name = member.name.rsplit("/", 1)[-1]
            if name == "main.plist":
                plist = plistlib.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
            elif name == "matrix.dat":
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
            if plist is not None and raw is not None:
                break
    if plist is None or raw is None:
        raise ValueError(f"{path} is not an InVesalius project (no main.plist / matrix.dat inside).")
    shape = tuple(int(s) for s in plist["matrix"]["shape"])
    dtype = np.dtype(plist["matrix"].get("dtype", "int16")).newbyteorder("<")
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
    sx, sy, sz = (float(s) for s in plist["spacing"])  # x (column), y (row), z (slice)
    arr = np.ascontiguousarray(arr[:, ::-1, :]).astype(np.int16)  # undo InVesalius' vertical flip
    spacing = (sz, sy, sx)
    origin = -0.5 * (np.asarray(shape[::-1]) - 1) * np.asarray([sx, sy, sz])  # array centre at (0,0,0)
    return Volume.from_geometry(
        arr, spacing=spacing, origin=origin, modality="CT",
        meta={"source": "invesalius-examples:Cranium.inv3", "description": str(plist.get("name", ""))},
    )  # fmt: skip


def head_phantom() -> Volume:
    """A procedural head CT (HU) on the same grid as the real scan: scalp, skull, brain, ventricles.

    Used only where the invesalius-examples package is absent. It has a nose so that anterior is
    visible, grey/white matter contrast, lateral ventricles and a diploic skull.

    Example:
        >>> head_phantom().shape
        (108, 256, 256)
    """
    shape = (108, 256, 256)
    spacing = np.array([1.5, 0.957, 0.957])
    k, r, c = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)], indexing="ij")
    z, y, x = k - 5.0, r + 5.0, c  # mm; y > 0 posterior

    def ell(a: float, b: float, cz: float, dz: float = 0.0, dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
        return ((x - dx) / a) ** 2 + ((y - dy) / b) ** 2 + ((z - dz) / cz) ** 2

    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[ell(78, 98, 88) <= 1] = 35.0  # scalp / soft tissue
    hu[ell(12, 18, 16, dz=-40, dy=-98) <= 1] = 35.0  # nose
    hu[ell(74, 94, 84) <= 1] = 1100.0  # outer table
    hu[ell(71, 91, 81) <= 1] = 600.0  # diploe
    hu[ell(69, 89, 79) <= 1] = 1100.0  # inner table
    hu[ell(66, 86, 76) <= 1] = 36.0  # grey matter / cortex
    hu[ell(56, 74, 64) <= 1] = 27.0  # white matter
    hu[(ell(7, 30, 14, dz=10, dx=-10) <= 1) | (ell(7, 30, 14, dz=10, dx=10) <= 1)] = 6.0  # ventricles
    hu[(z < -70) & (hu > 100)] = 1100.0  # skull base
    arr = np.round(hu).astype(np.int16)
    origin = -0.5 * (np.asarray(shape[::-1]) - 1) * spacing[::-1]
    return Volume.from_geometry(
        arr, spacing=tuple(spacing), origin=origin, modality="CT", meta={"source": "phantom"}
    )


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def anatomy_masks(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(intracranial, parenchyma) uint8 masks of a head CT in HU (axial slices on axis 0).

    Intracranial: per axial slice, the convex hull of the skull (largest 3D bone component, so a
    head rest is ignored; the hull also bridges burr holes and craniotomy defects), minus bone and
    air, largest 3D component after an erosion that cuts thin connections, grown back.
    Parenchyma: intracranial voxels of 18-60 HU after a light Gaussian filter (brain, not CSF), restricted
    to slices where brain fills most of the skull (this leaves out the skull base, orbits, sinuses).
    """
    from scipy import ndimage as ndi
    from skimage.morphology import convex_hull_image

    bone = _largest(hu > 250)
    hull = np.zeros_like(bone)
    for k in range(bone.shape[0]):
        if bone[k].sum() > 50:
            hull[k] = convex_hull_image(bone[k])
    inside = hull & ~ndi.binary_dilation(hu > 250, iterations=1) & (hu > -50) & (hu < 150)
    core = _largest(ndi.binary_erosion(inside, iterations=2))
    intracranial = ndi.binary_dilation(core, iterations=2) & inside
    soft = ndi.gaussian_filter(hu, sigma=0.7)
    par = intracranial & (soft >= 18) & (soft <= 60)
    par = _largest(ndi.binary_opening(par, iterations=1))
    area = hull.sum(axis=(1, 2)).astype(float)
    brain_fraction = par.sum(axis=(1, 2)) / np.maximum(area, 1.0)
    par &= (brain_fraction >= 0.5)[:, None, None]
    return intracranial.astype(np.uint8), par.astype(np.uint8)


def _up2(small: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour 2x in-plane upsampling back to ``shape``."""
    full = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)[:, : shape[1], : shape[2]]
    return np.ascontiguousarray(full)


def _build(source: str) -> BaseAnatomy:
    from scipy import ndimage as ndi

    if source == "phantom":
        vol = head_phantom()
    else:
        vol = read_cranium()
    hu = vol.array.astype(np.float32)
    sp = np.asarray(vol.spacing)
    # low-pass before the ~2 mm demo grid: sigma ~ 0.4 x the output/input spacing ratio (voxels)
    sigma = np.maximum(0.0, 0.4 * (np.array([2.5, 2.0, 2.0]) / sp))
    smooth = ndi.gaussian_filter(hu, sigma=sigma).astype(np.float32)
    # masks and distances on a grid halved in-plane (~1.9 mm, close to the demo grid): 4x cheaper
    small = smooth[:, ::2, ::2]
    sp_small = sp * np.array([1.0, 2.0, 2.0])
    ic, par = anatomy_masks(small)
    brain = ndi.binary_closing(par, iterations=2) & ic.astype(bool)  # sulci filled
    d_skull = ndi.distance_transform_edt(ic, sampling=sp_small).astype(np.float32)
    d_brain = ndi.distance_transform_edt(brain, sampling=sp_small).astype(np.float32)
    intracranial, parenchyma = _up2(ic, hu.shape), _up2(par, hu.shape)
    d_skull, d_brain = _up2(d_skull, hu.shape), _up2(d_brain, hu.shape)
    head = _largest(small > -300)
    idx = np.argwhere(head).mean(axis=0) * np.array([1.0, 2.0, 2.0])
    center = vol.index_to_world(idx)
    return BaseAnatomy(
        vol, smooth, intracranial, parenchyma, d_skull, d_brain, np.asarray(center, float), vol.meta["source"]
    )


def anatomy_source() -> str:
    """Which base anatomy this process will use: "invesalius-examples:Cranium.inv3" or "phantom"."""
    if os.environ.get("MEDWB_DEMO_ANATOMY", "").lower() == "phantom" or not CRANIUM_PATH.is_file():
        return "phantom"
    return "invesalius-examples:Cranium.inv3"


@functools.lru_cache(maxsize=2)
def _cached(source: str) -> BaseAnatomy:
    return _build(source)


def load_base(source: str | None = None) -> BaseAnatomy:
    """The base head (cached per process). ``source``: "phantom" to force the phantom, None = best.

    Example:
        >>> base = load_base()
        >>> base.volume.modality, base.intracranial.dtype
        ('CT', dtype('uint8'))
    """
    src = anatomy_source() if source is None else ("phantom" if source == "phantom" else anatomy_source())
    return _cached("phantom" if src == "phantom" else "real")
