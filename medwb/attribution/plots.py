"""Matplotlib figures for attributions and their evaluation (matplotlib imported on use).

Every function returns a matplotlib Figure and never calls plt.show(); notebooks display it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medwb.attribution.result import Attribution
from medwb.volume import Volume

__all__ = ["plot_attribution", "plot_curves", "plot_randomisation"]


def plot_attribution(attribution: Attribution, volume: Volume | None = None, *, index: int | None = None,
                     axis: int = 0, mask: Volume | np.ndarray | None = None, window: str = "brain",
                     alpha: float = 0.5) -> Any:
    """One slice of the image with the attribution overlaid (and the mask outline, if given).

    ``index`` defaults to the slice holding the map's maximum; ``axis`` 0 = axial for an axial stack.
    """
    import matplotlib.pyplot as plt

    amap = attribution.normalized(signed=attribution.method == "integrated_gradients")
    if index is None:
        index = int(np.unravel_index(np.argmax(np.abs(attribution.array)), attribution.shape)[axis])
    take = lambda a: np.take(a, index, axis=axis)  # noqa: E731
    fig, ax = plt.subplots(figsize=(5, 5))
    if volume is not None:
        img = volume.window(window) if volume.modality == "CT" else volume.array
        ax.imshow(take(img), cmap="gray")
    signed = amap.min() < 0
    im = ax.imshow(take(amap), cmap="RdBu_r" if signed else "inferno", alpha=alpha,
                   vmin=-1 if signed else 0, vmax=1)
    if mask is not None:
        m = mask.array if isinstance(mask, Volume) else np.asarray(mask)
        ax.contour(take(m != 0), levels=[0.5], colors="lime", linewidths=1)
    ax.set_title(f"{attribution.method}, target {attribution.target}, slice {index}")
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def plot_curves(curves: pd.DataFrame) -> Any:
    """Deletion and insertion curves (from deletion_insertion) with their AUCs in the legend."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, g in curves.groupby("curve"):
        ax.plot(g["fraction"], g["score"], label=f"{name} (AUC {g['auc'].iloc[0]:.3f})")
    ax.set_xlabel("fraction of voxels removed / inserted (most attributed first)")
    ax.set_ylabel("score")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_randomisation(table: pd.DataFrame) -> Any:
    """Spearman and SSIM against the number of randomised layers (from randomisation_check)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for col in ("spearman_abs", "ssim"):
        ax.plot(table["step"], table[col], marker="o", label=col)
    ax.set_xticks(table["step"], table["layer"], rotation=60, ha="right", fontsize=7)
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_ylim(-1, 1.05)
    ax.set_ylabel("similarity to original map")
    ax.set_title(f"cascading randomisation: {table['method'].iloc[0]}")
    ax.legend()
    fig.tight_layout()
    return fig
