"""Matplotlib figures for attributions and their evaluation (matplotlib imported on use).

Every function returns a matplotlib Figure and never calls plt.show(); notebooks display it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medwb.attribution.result import Attribution
from medwb.volume import Volume

__all__ = ["plot_attribution", "plot_curves", "plot_randomisation", "attribution_units"]


def attribution_units(attribution: Attribution) -> str:
    """What one unit of the map means, for a colour bar (the score is the logit or probability explained).

    Example:
        >>> a = Attribution(np.zeros((2, 2, 2), np.float32), np.eye(4), "integrated_gradients", 1,
        ...                 params={"score": "logit"})
        >>> attribution_units(a)
        'logit per voxel (sums to f(x) - f(baseline))'
    """
    score = str(attribution.params.get("score", "logit"))
    return {
        "integrated_gradients": f"{score} per voxel (sums to f(x) - f(baseline))",
        "saliency": f"|d {score} / d input|",
        "smoothgrad": f"|d {score} / d input|, averaged over noise",
        "gradcam": f"Grad-CAM ({score} gradient x activation, arbitrary units)",
        "occlusion": f"drop in {score} when the voxel is occluded",
    }.get(attribution.method, "attribution")


def plot_attribution(attribution: Attribution, volume: Volume | None = None, *, index: int | None = None,
                     axis: int = 0, mask: Volume | np.ndarray | None = None, window: str = "brain",
                     alpha: float = 0.6, mass: float | None = None) -> Any:
    """One slice of the image with the attribution overlaid (and the mask outline, if given).

    What is shown follows medwb.viz, like every viewer: the map divided by its display scale, and only
    the voxels holding the top ``mass`` of the map's |mass| (default medwb.viz.DISPLAY_MASS, one half;
    1.0 shows everything), outlined by a contour. So a localised map shows a small outlined region and
    a diffuse one a large region: what looks localised is localised. The colour bar is in the map's
    own units (attribution_units). ``index`` defaults to the slice holding the map's maximum; ``axis``
    0 = axial for an axial stack. The ground-truth mask, when given, is outlined in lime.
    """
    import matplotlib.pyplot as plt

    from medwb.viz import DISPLAY_MASS, display_scale, display_signed, display_threshold

    scale = display_scale(attribution.array)
    signed = display_signed(attribution.array, scale)
    amap = attribution.normalized(signed=signed)  # the one display scale (medwb.viz.display_map)
    cut = display_threshold(attribution.array, mass=DISPLAY_MASS if mass is None else mass, scale=scale)
    if index is None:
        index = int(np.unravel_index(np.argmax(np.abs(attribution.array)), attribution.shape)[axis])
    take = lambda a: np.take(a, index, axis=axis)  # noqa: E731
    fig, ax = plt.subplots(figsize=(5.4, 5))
    if volume is not None:
        img = volume.window(window) if volume.modality == "CT" else volume.array
        ax.imshow(take(img), cmap="gray")
    shown = take(amap)
    hidden = np.abs(shown) < max(cut, 1e-6)
    im = ax.imshow(np.ma.masked_where(hidden, shown * scale), cmap="RdBu_r" if signed else "inferno",
                   alpha=alpha, vmin=-scale if signed else 0, vmax=scale)
    if (~hidden).any() and hidden.any():
        ax.contour(~hidden, levels=[0.5], colors="cyan", linewidths=0.8)
    if mask is not None:
        m = mask.array if isinstance(mask, Volume) else np.asarray(mask)
        ax.contour(take(m != 0), levels=[0.5], colors="lime", linewidths=1)
    share = DISPLAY_MASS if mass is None else mass
    ax.set_title(f"{attribution.method}, target {attribution.target}, slice {index}\n"
                 f"shown: voxels holding the top {share:.0%} of the map's mass (cyan outline)", fontsize=8)
    ax.axis("off")
    bar = fig.colorbar(im, ax=ax, fraction=0.046)
    bar.set_label(attribution_units(attribution), fontsize=8)
    return fig


def plot_curves(curves: pd.DataFrame) -> Any:
    """Deletion and insertion curves (from deletion_insertion) with their AUCs in the legend."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, g in curves.groupby("curve"):
        ax.plot(g["fraction"], g["score"], label=f"{name} (AUC {g['auc'].iloc[0]:.3f})")
    ax.set_xlabel("fraction of voxels removed / inserted (most attributed first)")
    ax.set_ylabel(str(curves["score_kind"].iloc[0]) if "score_kind" in curves else "score")
    if "baseline" in curves:
        ax.set_title(f"deletion / insertion, reference: {curves['baseline'].iloc[0]}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_randomisation(table: pd.DataFrame) -> Any:
    """Spearman and SSIM against the number of randomised layers (from randomisation_check)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = {"spearman_abs": "|Spearman| of |maps| (voxels that matter)", "ssim": "SSIM of |maps|"}
    for col in ("spearman_abs", "ssim"):
        ax.plot(table["step"], table[col], marker="o", label=labels[col])
    ax.set_xticks(table["step"], table["layer"], rotation=60, ha="right", fontsize=7)
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_ylim(-0.1, 1.05)
    ax.set_ylabel("similarity to original map")
    ax.set_title(f"cascading randomisation: {table['method'].iloc[0]}")
    ax.legend()
    fig.tight_layout()
    return fig
