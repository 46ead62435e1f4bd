"""Tiny synthetic head CTs with or without a ring-enhancing lesion, for tests and quick experiments.

Not the demo cohort (medwb.demo, real anatomy): an ellipsoid "brain" in a skull, Gaussian noise and
one lesion per case. Label 1: a ring-enhancing lesion (bright rim, dark necrotic core); label 0: a
solid lesion of similar size, or none. Deterministic for a seed; milliseconds per case.
"""

from __future__ import annotations

import numpy as np

from medwb.volume import Volume

__all__ = ["synthetic_case", "synthetic_cases"]


def synthetic_case(
    label: int, seed: int, shape: tuple[int, int, int] = (40, 64, 64), spacing: float = 3.0
) -> tuple[Volume, Volume]:
    """One (CT Volume in HU, uint8 lesion mask Volume) pair; ``label`` 1 puts a ring lesion in.

    Example:
        >>> ct, mask = synthetic_case(1, seed=0)
        >>> ct.shape == mask.shape, int(mask.array.max())
        (True, 1)
    """
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    c = (np.asarray(shape) - 1) / 2.0
    r = np.sqrt(((zz - c[0]) / (0.45 * shape[0])) ** 2 + ((yy - c[1]) / (0.42 * shape[1])) ** 2
                + ((xx - c[2]) / (0.36 * shape[2])) ** 2)
    hu = np.full(shape, -1000.0, np.float32)
    hu[r < 1.0] = 1000.0  # skull
    hu[r < 0.9] = 30.0 + rng.normal(0, 2)  # brain
    mask = np.zeros(shape, np.uint8)
    kind = "ring" if label == 1 else ("solid" if rng.random() < 0.6 else "none")
    if kind != "none":
        for _ in range(50):  # a centre well inside the brain
            p = c + rng.uniform(-0.5, 0.5, 3) * np.asarray(shape) * np.array([0.5, 0.6, 0.5])
            rad = rng.uniform(3.0, 5.0)  # voxels
            d = np.sqrt((zz - p[0]) ** 2 + (yy - p[1]) ** 2 + (xx - p[2]) ** 2)
            if np.all(r[d < rad + 1] < 0.8):
                break
        lesion = d < rad
        mask[lesion] = 1
        if kind == "ring":
            hu[lesion] = 110.0  # enhancing rim
            hu[d < rad - 1.6] = 8.0  # necrotic core
        else:
            hu[lesion] = 55.0
    hu += rng.normal(0, 6.0, shape).astype(np.float32)
    vol = Volume.from_geometry(np.round(hu).astype(np.int16), spacing=(spacing,) * 3, modality="CT",
                               meta={"synthetic": kind})
    return vol, vol.with_array(mask)


def synthetic_cases(n: int, seed: int = 0, **kw: object) -> tuple[list[Volume], list[int], list[Volume]]:
    """``n`` cases alternating label 1 and 0: (volumes, labels, masks)."""
    vols, labels, masks = [], [], []
    for i in range(n):
        y = i % 2
        v, m = synthetic_case(y, seed * 100_003 + i, **kw)  # type: ignore[arg-type]
        vols.append(v)
        labels.append(y)
        masks.append(m)
    return vols, labels, masks
