"""extract(): one tidy feature table (one row per case) from a Cohort or from (image, mask) pairs.

Runs the shape, intensity and texture families (and attribution features when maps are given)
and names every column as in medwb.features.registry.FEATURES. Cases whose mask is missing or
empty are never silently dropped: they get NaN features or are skipped/raised per ``on_empty``,
and are listed in ``table.attrs["problems"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from medwb.features._input import FeatureInputError
from medwb.features.attribution import attribution_features
from medwb.features.intensity import intensity_features
from medwb.features.registry import FEATURES
from medwb.features.shape import shape_features
from medwb.features.texture import texture_features
from medwb.volume import Volume

__all__ = ["extract", "FAMILIES"]

FAMILIES = ("shape", "intensity", "texture")


def _cases(source: Any) -> list[tuple[str, Callable[[], Volume], Callable[[], Any]]]:
    """Normalise the input to (case_id, load image, load mask) triples (lazy loading for cohorts)."""
    if hasattr(source, "case_ids") and hasattr(source, "volume"):
        return [(cid, (lambda c=cid: source.volume(c)), (lambda c=cid: source.mask(c))) for cid in source.case_ids]
    if isinstance(source, Mapping):
        items: Iterable[Any] = [(k, *v) if isinstance(v, (tuple, list)) else (k, v, None) for k, v in source.items()]
    else:
        items = source
    out = []
    for item in items:
        if len(item) == 2:
            cid, vol, msk = item[0], item[1], None
        elif len(item) == 3:
            cid, vol, msk = item
        else:
            raise ValueError(f"expected (case_id, volume) or (case_id, volume, mask), got {len(item)} items")
        out.append((str(cid), (lambda v=vol: v), (lambda m=msk: m)))
    return out


def extract(
    cohort_or_pairs: Any,
    mask: Mapping[str, Any] | Callable[[str, Volume], Any] | None = None,
    families: Sequence[str] = FAMILIES,
    attributions: Mapping[str, Any] | None = None,
    label: int | None = None,
    bin_count: int | None = 32,
    bin_width: float | None = None,
    on_empty: str = "nan",
    progress: bool = True,
) -> pd.DataFrame:
    """Features for every case, one row per case_id, columns named as in ``FEATURES``.

    Args:
        cohort_or_pairs: a medwb Cohort (its masks are used), a dict case_id -> (volume, mask) or
            volume, or an iterable of (case_id, volume, mask).
        mask: overrides the masks: dict case_id -> mask Volume/array, or a function
            (case_id, volume) -> mask (e.g. a segmentation or a thresholded attribution).
        families: any of "shape", "intensity", "texture".
        attributions: case_id -> attribution map (adds attr_* features).
        label: use only voxels equal to this label (default: every voxel > 0).
        bin_count, bin_width: grey-level discretisation for entropy and GLCM.
        on_empty: case without a mask or with an empty one: "nan" (row of NaN), "skip" (no row),
            "raise". Either way it is listed in ``table.attrs["problems"]``.

    Example:
        >>> z, y, x = np.mgrid[:16, :16, :16] - 8
        >>> m = (x**2 + y**2 + z**2 <= 25).astype(np.uint8)
        >>> v = Volume.from_geometry(m * 100.0, spacing=(2, 1, 1))
        >>> t = extract({"c1": (v, v.with_array(m))}, progress=False)
        >>> t.loc[0, "case_id"], float(t.loc[0, "intensity_mean"])
        ('c1', 100.0)
    """
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown feature families {sorted(unknown)}; choose from {FAMILIES}")
    if on_empty not in ("nan", "skip", "raise"):
        raise ValueError(f"on_empty={on_empty!r}: use 'nan', 'skip' or 'raise'")
    from tqdm.auto import tqdm

    cases = _cases(cohort_or_pairs)
    prefix = {"shape": "shape_", "intensity": "intensity_", "texture": "glcm_"}
    columns = [n for n in FEATURES if any(n.startswith(prefix[f]) for f in families)]
    if attributions is not None:
        columns += [n for n in FEATURES if n.startswith("attr_")]
    rows, problems = [], []
    for cid, load_vol, load_mask in tqdm(cases, desc="features", disable=not progress or len(cases) < 5):
        vol = load_vol()
        if mask is None:
            m = load_mask()
        elif callable(mask):
            m = mask(cid, vol)
        else:
            m = mask.get(cid)
        arr = None if m is None else np.asarray(m.array if isinstance(m, Volume) else m)
        if arr is not None and isinstance(m, Volume) and not vol.same_grid(m):
            raise FeatureInputError(
                f"case {cid}: image shape {vol.shape} / affine\n{np.round(vol.affine, 3)}\n"
                f"and mask shape {m.shape} / affine\n{np.round(m.affine, 3)} are not on one grid.\n"
                "Fix: medwb.transforms.resample_like(mask, image, order=0)."
            )
        if arr is not None and arr.shape != vol.shape:
            raise FeatureInputError(f"case {cid}: mask shape {arr.shape} differs from image shape {vol.shape}")
        sel = None if arr is None else ((arr == label) if label is not None else (arr > 0))
        if sel is None or not sel.any():
            why = "no mask" if arr is None else "empty mask"
            problems.append({"case_id": cid, "problem": why, "handling": on_empty})
            if on_empty == "raise":
                raise FeatureInputError(f"case {cid} has {why}. Fix: on_empty='nan' or 'skip', or supply a mask.")
            if on_empty == "nan":
                rows.append({"case_id": cid, **dict.fromkeys(columns, np.nan)})
            continue
        row: dict[str, Any] = {"case_id": cid}
        if attributions is None:  # crop to the mask's bounding box (+1 voxel): same features, far faster
            idx = np.argwhere(sel)
            lo, hi = np.maximum(idx.min(0) - 1, 0), idx.max(0) + 2
            box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
            affine = vol.affine.copy()
            affine[:3, 3] = vol.index_to_world(lo)
            vol, sel = Volume(vol.array[box], affine, vol.modality, vol.meta), sel[box]
        mvol = vol.with_array(sel.astype(np.uint8))
        if "shape" in families:
            row.update(shape_features(mvol, vol))
        if "intensity" in families:
            row.update(intensity_features(vol, sel, bin_count, bin_width))
        if "texture" in families:
            row.update(texture_features(vol, sel, bin_count, bin_width))
        if attributions is not None:
            att = attributions.get(cid)
            if att is None:
                problems.append({"case_id": cid, "problem": "no attribution map", "handling": "nan"})
            else:
                row.update(attribution_features(vol, att, sel))
        rows.append(row)
    table = pd.DataFrame(rows, columns=["case_id", *columns])
    table.attrs["problems"] = pd.DataFrame(problems, columns=["case_id", "problem", "handling"])
    table.attrs["units"] = {c: FEATURES[c][0] for c in columns}
    return table
