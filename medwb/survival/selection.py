"""Univariate Cox screening: the score-test statistic of every covariate at once (feature selection in folds)."""

from __future__ import annotations

import numpy as np

__all__ = ["univariate_score"]


def univariate_score(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Univariate Cox score-test statistics (chi-square, 1 df) for every column of ``x`` at beta = 0.

    Breslow ties; vectorised over columns, O(n log n + n p). Used for feature selection in folds.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.normal(size=(200, 3))
        >>> t = rng.exponential(np.exp(-x[:, 0])); int(univariate_score(x, t, np.ones(200)).argmax())
        0
    """
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(-np.asarray(time), kind="stable")  # decreasing time: cumsums give risk sets
    xs, ts, es = x[order], np.asarray(time)[order], np.asarray(event)[order].astype(bool)
    n_risk = np.arange(1, len(ts) + 1, dtype=np.float64)
    s1, s2 = np.cumsum(xs, axis=0), np.cumsum(xs**2, axis=0)
    # for tied times the risk set is everyone with time >= t: use the last index of each tie block
    last = np.searchsorted(-ts, -ts, side="right") - 1
    m1, m2 = s1[last] / n_risk[last, None], s2[last] / n_risk[last, None]
    u = np.sum((xs - m1)[es], axis=0)
    info = np.sum((m2 - m1**2)[es], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(info > 1e-12, u**2 / info, 0.0)
    return stat
