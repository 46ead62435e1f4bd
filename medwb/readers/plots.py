"""Figures of a reader study: ROC curves per reader and pooled per arm, and a forest plot of the AUC
differences with their confidence intervals. Each function returns the matplotlib Figure (headless-safe;
nothing is shown); matplotlib is imported when a plot is drawn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medwb.readers.metrics import roc_curves
from medwb.readers.mrmc import MRMCResult

__all__ = ["plot_roc", "forest_plot"]


def plot_roc(ratings: pd.DataFrame, reader: str = "reader", modality: str = "modality", truth: str = "truth",
             score: str = "rating", title: str = "", ax: Any = None) -> Any:
    """Empirical ROC curves: thin lines per reader, a thick pooled curve (mean TPR over readers) per arm.

    Example:
        >>> from medwb.readers.simulate import simulate_study
        >>> fig = plot_roc(simulate_study(n_readers=3, n_cases=30))
        >>> len(fig.axes[0].lines)
        9
    """
    import matplotlib.pyplot as plt

    curves = roc_curves(ratings, reader, modality, truth, score)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 5))
        plt.close(fig)  # returned for display; not left open in pyplot's state
    else:
        fig = ax.figure
    colours = plt.get_cmap("tab10")
    for n, (m, part) in enumerate(curves.groupby("modality", sort=False)):
        for r, c in part.groupby("reader", sort=False):
            pooled = r == "(mean)"
            ax.plot(c.fpr, c.tpr, color=colours(n % 10), lw=2.4 if pooled else 0.8, alpha=1 if pooled else 0.45,
                    label=f"{m} (mean of readers)" if pooled else None)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 − specificity", ylabel="sensitivity", aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
    simulated = bool(ratings.attrs.get("simulated")) or ratings[reader].astype(str).str.startswith("sim-").any() \
        or "source" in ratings and ratings["source"].astype(str).str.contains("simulated").any()
    ax.set_title((title or "ROC curves per reader") + (" (simulated readers)" if simulated else ""), fontsize=10)
    fig.tight_layout()
    return fig


def forest_plot(result: MRMCResult, title: str = "", ax: Any = None) -> Any:
    """AUC differences between arms with their confidence intervals (and the per-arm AUCs as text).

    Example:
        >>> from medwb.readers.mrmc import mrmc
        >>> from medwb.readers.simulate import simulate_study
        >>> fig = forest_plot(mrmc(simulate_study(n_readers=4, n_cases=40)))
    """
    import matplotlib.pyplot as plt

    c = result.contrasts
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(c) + 1.6))
        plt.close(fig)
    else:
        fig = ax.figure
    y = np.arange(len(c))[::-1]
    est, lo, hi = (c[k].to_numpy(float) for k in ("estimate", "ci_low", "ci_high"))
    ax.errorbar(est, y, xerr=np.vstack([est - lo, hi - est]), fmt="s", color="k",
                capsize=4, ms=6)
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.set_yticks(y, [f"{name}\n{r.estimate:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}], p={r.p_value:.3g}"
                      for name, r in c.iterrows()], fontsize=8)
    level = 100 * (1 - result.alpha)
    ax.set_xlabel(f"difference in AUC ({level:g}% CI, {result.analysis})")
    aucs = ", ".join(f"{m}: {v:.3f}" for m, v in result.modality_auc.items())
    n_sim = len(result.readers) if result.meta.get("simulated") else len(result.meta.get("simulated_readers", []))
    sim = "" if not n_sim else " (simulated readers)" if n_sim == len(result.readers) else \
        f" ({n_sim} of {len(result.readers)} readers simulated)"
    ax.set_title((title or "Reader study: AUC differences") + sim + f"\nAUC {aucs}", fontsize=10)
    fig.tight_layout()
    return fig
