"""Per-case variation of the base head: rigid pose, smooth elastic deformation, scanner differences.

Every demo case is the base anatomy (medwb.demo.anatomy) resampled onto the fixed demo grid through a
random small rigid transform (a few degrees, a few millimetres) composed with a smooth random
displacement field, then given a scanner-like intensity scale/offset. Noise is added last (after the
lesions, in medwb.demo.build) so that lesions carry it too. All randomness comes from the numpy
Generator passed in, so a case is a pure function of (seed, case index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medwb.demo.anatomy import BaseAnatomy
from medwb.volume import Volume

__all__ = ["GRID_SHAPE", "GRID_SPACING", "Pose", "draw_pose", "demo_grid", "warp_case", "add_noise"]

#: Demo grid: 64 axial slices of 128 x 128 (2.5 mm slices, 2.0 mm pixels: 160 x 256 x 256 mm field).
GRID_SHAPE: tuple[int, int, int] = (64, 128, 128)
GRID_SPACING: tuple[float, float, float] = (2.5, 2.0, 2.0)


@dataclass(frozen=True)
class Pose:
    """One case's random geometry and intensity parameters (all recorded in ground_truth.json)."""

    rotation_deg: tuple[float, float, float]  # about the LPS x (pitch), y (roll), z (yaw) axes
    shift_mm: tuple[float, float, float]  # LPS
    elastic_mm: float  # standard deviation of the displacement control points
    elastic_points: int  # control points per axis (in-plane; fewer along z)
    hu_scale: float
    hu_offset: float
    noise_hu: float

    def as_dict(self) -> dict[str, object]:
        return {
            "rotation_deg": [round(v, 4) for v in self.rotation_deg],
            "shift_mm": [round(v, 4) for v in self.shift_mm],
            "elastic_mm": round(self.elastic_mm, 4),
            "hu_scale": round(self.hu_scale, 5),
            "hu_offset": round(self.hu_offset, 4),
            "noise_hu": round(self.noise_hu, 4),
        }


def draw_pose(rng: np.random.Generator) -> Pose:
    """Random pose: rotations N(0, 3 deg) clipped at 8, shifts N(0, 3 mm) clipped at 8, elastic 1.5-3 mm."""
    rot = np.clip(rng.normal(0.0, 3.0, 3), -8, 8)
    shift = np.clip(rng.normal(0.0, 3.0, 3), -8, 8)
    return Pose(
        rotation_deg=tuple(float(v) for v in rot),
        shift_mm=tuple(float(v) for v in shift),
        elastic_mm=float(rng.uniform(1.5, 3.0)),
        elastic_points=int(rng.integers(5, 8)),
        hu_scale=float(rng.normal(1.0, 0.02)),
        hu_offset=float(rng.normal(0.0, 3.0)),
        noise_hu=float(rng.uniform(3.0, 6.0)),
    )


def _rotation(deg: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def demo_grid(base: BaseAnatomy) -> np.ndarray:
    """The demo grid's affine (index -> LPS): standard axial, centred in-plane on the head and
    along z on the scanned range, so the whole head stays in view for every case."""
    src = base.volume
    z_mid = src.index_to_world([(src.shape[0] - 1) / 2, 0, 0])[2]
    centre = np.array([base.center[0], base.center[1], z_mid])
    spacing = np.asarray(GRID_SPACING)
    half = (np.asarray(GRID_SHAPE) - 1) / 2 * spacing  # slice, row, column
    origin = centre - np.array([half[2], half[1], half[0]])  # x <- columns, y <- rows, z <- slices
    affine = np.eye(4)
    affine[:3, :3] = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]) * spacing[None, :]
    affine[:3, 3] = origin
    return affine


def _elastic(rng: np.random.Generator, pose: Pose) -> np.ndarray:
    """Smooth displacement (3, *GRID_SHAPE) in mm (LPS components): cubic upsampling of random control
    points, which are zero on the border so the field fades out at the edge of the field of view."""
    from scipy import ndimage as ndi

    n = pose.elastic_points
    ctrl_shape = (max(3, n - 2), n, n)
    ctrl = rng.normal(0.0, pose.elastic_mm, (3, *ctrl_shape))
    ctrl[:, [0, -1], :, :] = 0.0
    ctrl[:, :, [0, -1], :] = 0.0
    ctrl[:, :, :, [0, -1]] = 0.0
    # cubic up to a quarter-resolution grid, then trilinear to full size: smooth, and 10x cheaper
    # than a full-size cubic zoom
    mid = tuple(max(c, g // 4) for c, g in zip(ctrl_shape, GRID_SHAPE))
    field = np.empty((3, *GRID_SHAPE), dtype=np.float32)
    for i in range(3):
        m = ndi.zoom(ctrl[i], [a / b for a, b in zip(mid, ctrl_shape)], order=3, mode="nearest", grid_mode=True)
        m = ndi.zoom(m.astype(np.float32), [a / b for a, b in zip(GRID_SHAPE, m.shape)], order=1,
                     mode="nearest", grid_mode=True)  # fmt: skip
        field[i] = m[: GRID_SHAPE[0], : GRID_SHAPE[1], : GRID_SHAPE[2]]
    return field


def warp_case(base: BaseAnatomy, pose: Pose, rng: np.random.Generator) -> tuple[Volume, dict[str, np.ndarray]]:
    """Resample the base head through ``pose`` onto the demo grid.

    Returns the float32 HU Volume on the demo grid and the base's anatomy maps carried along the same
    transform (nearest neighbour): "intracranial" and "parenchyma" (uint8), "d_skull" and "d_brain"
    (float32 mm, see BaseAnatomy). Voxels that fall outside the scanned range are air (-1024 HU).
    """
    from scipy import ndimage as ndi

    affine = demo_grid(base)
    k, r, c = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in GRID_SHAPE], indexing="ij")
    idx = np.stack([k.ravel(), r.ravel(), c.ravel()])  # (3, N)
    del k, r, c
    world = affine[:3, :3].astype(np.float32) @ idx + affine[:3, 3:4].astype(np.float32)
    centre = affine[:3, :3] @ ((np.asarray(GRID_SHAPE) - 1) / 2) + affine[:3, 3]
    rot = _rotation(pose.rotation_deg)
    # output point p shows source point q = centre + R (p - centre - shift) + elastic(p)
    q = rot.astype(np.float32) @ (world - (centre + np.asarray(pose.shift_mm))[:, None].astype(np.float32))
    q += centre[:, None].astype(np.float32)
    q += _elastic(rng, pose).reshape(3, -1)
    del world
    inv = np.linalg.inv(base.volume.affine).astype(np.float32)
    src_idx = inv[:3, :3] @ q + inv[:3, 3:4]
    del q
    hu = ndi.map_coordinates(base.smooth, src_idx, order=1, mode="constant", cval=-1024.0, prefilter=False)
    maps = {}
    for name in ("intracranial", "parenchyma", "d_skull", "d_brain"):
        src = getattr(base, name)
        maps[name] = ndi.map_coordinates(src, src_idx, order=0, mode="constant", cval=0).reshape(GRID_SHAPE)
    hu = hu.reshape(GRID_SHAPE) * np.float32(pose.hu_scale) + np.float32(pose.hu_offset)
    hu = np.maximum(hu, -1024.0).astype(np.float32)
    return Volume(hu, affine, modality="CT"), maps


def add_noise(hu: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """CT-like noise: white Gaussian noise lightly correlated in-plane (sigma 0.6 px), scaled to ``sd``
    HU, then rounded and clipped to the 12-bit CT range; returns int16."""
    from scipy import ndimage as ndi

    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    noise = ndi.gaussian_filter(noise, sigma=(0.0, 0.6, 0.6))
    noise *= np.float32(sd / max(float(noise.std()), 1e-6))
    out = np.clip(np.rint(hu + noise), -1024, 3071)
    return out.astype(np.int16)
