"""Simulated brain lesions on non-contrast-looking head CT, with their ground-truth masks.

Two morphologies, which decide the demo's diagnosis label:

* ``"ring"`` (ring-enhancing, the "malignant-type" lesion: label 1): an irregular, lobulated outline;
  an enhancing rim 40-70 HU above the surrounding brain and 2.5-5 mm thick (its thickness varies
  around the lesion); a hypodense necrotic core; hypodense vasogenic oedema 6-15 mm around it.
* ``"solid"`` (label 0): a smooth, round, homogeneous, mildly hyperdense (+12..+25 HU) mass with no
  necrosis and at most a thin rim of oedema.

Both carry correlated ("textured") noise. Lesions sit inside the brain parenchyma: the centre at
least 0.35 radii inside it and one radius + 3 mm inside the skull; voxels are clipped
to the intracranial space, oedema to brain tissue. Masks: 0 background, 1 lesion (core and rim),
2 oedema.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medwb.demo.truth import LABEL_LESION, LABEL_OEDEMA

__all__ = ["LESION_TYPES", "LesionSpec", "draw_lesion", "place_and_render", "LABEL_LESION", "LABEL_OEDEMA"]

LESION_TYPES = ("ring", "solid")


@dataclass(frozen=True)
class LesionSpec:
    """Everything random about one lesion except where it goes (decided on the case's anatomy)."""

    kind: str  # "ring" or "solid"
    radius_mm: float
    lobulation: float  # relative amplitude of the outline's bumps
    n_lobes: int
    lobe_sharpness: float
    rim_mm: float  # ring only
    rim_hu: float  # ring: rim enhancement; solid: lesion density above brain
    core_hu: float  # ring: necrotic core (negative)
    oedema_mm: float
    oedema_hu: float  # negative
    texture_hu: float


def draw_lesion(kind: str, rng: np.random.Generator) -> LesionSpec:
    """Random parameters of a lesion of the given morphology ("ring" or "solid")."""
    if kind == "ring":
        return LesionSpec(
            kind="ring", radius_mm=float(rng.uniform(10.0, 22.0)), lobulation=float(rng.uniform(0.3, 0.5)),
            n_lobes=int(rng.integers(4, 8)), lobe_sharpness=float(rng.uniform(3.0, 7.0)),
            rim_mm=float(rng.uniform(2.5, 5.0)), rim_hu=float(rng.uniform(40.0, 70.0)),
            core_hu=float(rng.uniform(-20.0, -10.0)), oedema_mm=float(rng.uniform(6.0, 15.0)),
            oedema_hu=float(rng.uniform(-20.0, -12.0)), texture_hu=float(rng.uniform(5.0, 9.0)),
        )  # fmt: skip
    if kind == "solid":
        has_oedema = rng.random() < 0.3
        return LesionSpec(
            kind="solid", radius_mm=float(rng.uniform(8.0, 18.0)), lobulation=float(rng.uniform(0.0, 0.05)),
            n_lobes=int(rng.integers(2, 4)), lobe_sharpness=float(rng.uniform(1.0, 2.0)),
            rim_mm=0.0, rim_hu=float(rng.uniform(12.0, 25.0)), core_hu=0.0,
            oedema_mm=float(rng.uniform(2.0, 5.0)) if has_oedema else 0.0,
            oedema_hu=float(rng.uniform(-10.0, -6.0)), texture_hu=float(rng.uniform(2.0, 4.0)),
        )  # fmt: skip
    raise ValueError(f"unknown lesion kind {kind!r}.\nFix: use one of {LESION_TYPES}.")


def _bumps(u: np.ndarray, rng: np.random.Generator, n: int, kappa: float) -> np.ndarray:
    """A smooth random function on the unit sphere with zero mean: n von Mises-Fisher bumps/dents."""
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    w = rng.uniform(0.5, 1.0, n) * rng.choice([-1.0, 1.0], n)
    mean = (1.0 - np.exp(-2.0 * kappa)) / (2.0 * kappa)  # E[exp(kappa (u.v - 1))] over the sphere
    out = np.zeros(u.shape[1:], dtype=np.float32)
    for vk, wk in zip(v, w):
        dot = np.tensordot(vk, u, axes=1)
        out += np.float32(wk) * (np.exp(kappa * (dot - 1.0)) - mean).astype(np.float32)
    return out / max(1.0, float(np.abs(w).sum()) * 0.3)


def _textured(shape: tuple[int, ...], sd: float, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage as ndi

    t = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma=1.2)
    return t * np.float32(sd / max(float(t.std()), 1e-6))


def place_and_render(
    hu: np.ndarray,
    spacing: tuple[float, float, float],
    intracranial: np.ndarray,
    parenchyma: np.ndarray,
    specs: list[LesionSpec],
    rng: np.random.Generator,
    d_skull: np.ndarray | None = None,
    d_brain: np.ndarray | None = None,
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Place each lesion in the parenchyma, draw it into ``hu`` (in place) and return the label map.

    Returns (uint8 labels on the grid of ``hu``, per-lesion dicts with kind, centre voxel index,
    radius, volume). A lesion whose radius does not fit anywhere is shrunk by 15 % steps.
    ``d_skull`` / ``d_brain``: distances (mm) to the skull and out of the brain, computed here when not
    given (medwb.demo.build passes the base anatomy's, carried through the case's warp).
    """
    from scipy import ndimage as ndi

    sp = np.asarray(spacing, dtype=np.float64)
    labels = np.zeros(hu.shape, dtype=np.uint8)
    delta = np.zeros(hu.shape, dtype=np.float32)
    if d_skull is None:
        d_skull = ndi.distance_transform_edt(intracranial, sampling=sp)
    if d_brain is None:
        brain = ndi.binary_closing(parenchyma, iterations=2) & intracranial.astype(bool)  # sulci filled
        d_brain = ndi.distance_transform_edt(brain, sampling=sp)
    tissue = intracranial.astype(bool) & (hu > 10)
    taken = np.zeros(hu.shape, dtype=bool)
    truth: list[dict[str, object]] = []
    for spec in specs:
        radius = spec.radius_mm
        while True:
            ok = (d_skull >= radius + 3.0) & (d_brain >= 0.35 * radius) & parenchyma.astype(bool) & ~taken
            if ok.any() or radius < 4.0:
                break
            radius *= 0.85
        cand = np.argwhere(ok)
        if len(cand) == 0:
            continue
        centre = cand[int(rng.integers(len(cand)))]
        outer = radius * (1.0 + spec.lobulation) + spec.oedema_mm * 1.6 + 4.0
        lo = np.maximum(0, np.floor(centre - outer / sp)).astype(int)
        hi = np.minimum(hu.shape, np.ceil(centre + outer / sp) + 1).astype(int)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        grids = np.meshgrid(*[(np.arange(a, b) - ci) * s for a, b, ci, s in zip(lo, hi, centre, sp)],
                            indexing="ij")  # fmt: skip
        d = np.stack(grids).astype(np.float32)  # mm offsets (slice, row, column)
        dist = np.sqrt((d**2).sum(axis=0)) + np.float32(1e-6)
        u = d / dist
        r_out = radius * (1.0 + spec.lobulation * _bumps(u, rng, spec.n_lobes, spec.lobe_sharpness))
        rho = dist / r_out
        inside_skull = intracranial[box].astype(bool)
        lesion = (rho <= 1.0) & inside_skull
        local = np.zeros(rho.shape, dtype=np.float32)
        if spec.kind == "ring":
            rim = spec.rim_mm * (1.0 + 0.35 * _bumps(u, rng, 5, 2.0) / 0.5)
            rim = np.clip(rim, 1.5, 0.6 * radius)
            core = lesion & (dist <= r_out - rim)
            local[lesion] = spec.rim_hu
            local[core] = spec.core_hu
        else:
            local[lesion] = spec.rim_hu
        oedema = np.zeros_like(lesion)
        if spec.oedema_mm > 0:
            # finger-like oedema: the reach varies around the lesion and with a smooth random field
            wobble = ndi.gaussian_filter(rng.standard_normal(rho.shape, dtype=np.float32), 2.0)
            wobble /= max(float(wobble.std()), 1e-6)
            reach_mm = spec.oedema_mm * (1.0 + 0.35 * wobble + 0.4 * _bumps(u, rng, 6, 3.0))
            oedema = (~lesion) & (dist <= r_out + np.maximum(reach_mm, 0.0)) & tissue[box]
            local[oedema] = spec.oedema_hu
        tex = _textured(rho.shape, spec.texture_hu, rng)
        local += np.where(lesion | oedema, tex * np.where(oedema, 0.4, 1.0), 0.0).astype(np.float32)
        # partial volume: soften edges by about half a voxel, but never spill outside the skull
        local = ndi.gaussian_filter(local, sigma=0.6) * inside_skull
        new_lesion = lesion & (labels[box] != LABEL_LESION)
        labels[box][oedema & (labels[box] == 0)] = LABEL_OEDEMA
        labels[box][new_lesion] = LABEL_LESION
        delta[box] += local
        taken[box] |= dist <= (r_out + spec.oedema_mm + 10.0)
        voxel_ml = float(np.prod(sp)) / 1000.0
        truth.append({
            "type": spec.kind, "centre_index": [int(v) for v in centre], "radius_mm": round(radius, 3),
            "volume_ml": round(float(lesion.sum()) * voxel_ml, 4),
            "oedema_ml": round(float(oedema.sum()) * voxel_ml, 4),
            "rim_hu": round(spec.rim_hu, 2), "core_hu": round(spec.core_hu, 2),
        })  # fmt: skip
    hu += delta
    return labels, truth
