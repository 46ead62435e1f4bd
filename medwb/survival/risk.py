"""Risk groups from a continuous risk score, with Kaplan–Meier curves and a log-rank test per group.

Cut-points are given, or taken as quantiles of the score; choose them on training data (or
out-of-fold scores, medwb.survival.validation) and not by searching for the smallest p-value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medwb.survival.km import KMResult, LogRankResult, kaplan_meier, logrank

__all__ = ["RiskGroups", "risk_groups", "stratify"]


def risk_groups(
    risk: Sequence[float] | pd.Series,
    cut: str | float | Sequence[float] = "median",
    labels: Sequence[str] | None = None,
) -> pd.Series:
    """Label each score by group: cut="median", "tertiles", "quartiles", a number, or a list of cut-points.

    Groups run from lowest to highest risk ("low", "high" for one cut; "G1".."Gk" otherwise).

    Example:
        >>> risk_groups([0.1, 0.5, 0.9, 1.2]).tolist()
        ['low', 'low', 'high', 'high']
    """
    s = pd.Series(risk, dtype=float) if not isinstance(risk, pd.Series) else risk.astype(float)
    if s.isna().any():
        raise ValueError(f"risk scores are missing for {s.index[s.isna()].tolist()[:10]}; fill or drop them first")
    presets = {"median": [0.5], "tertiles": [1 / 3, 2 / 3], "quartiles": [0.25, 0.5, 0.75]}
    if isinstance(cut, str):
        if cut not in presets:
            raise ValueError(f"cut={cut!r}: use one of {list(presets)}, a number or a list of numbers")
        cuts = list(np.quantile(s, presets[cut]))
    elif np.isscalar(cut):
        cuts = [float(cut)]
    else:
        cuts = sorted(float(c) for c in cut)
    k = len(cuts) + 1
    if labels is None:
        labels = ["low", "high"] if k == 2 else [f"G{i + 1}" for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"{len(cuts)} cut-points make {k} groups but {len(labels)} labels were given")
    idx = np.searchsorted(np.asarray(cuts), s.to_numpy(), side="right")
    return pd.Series(pd.Categorical([labels[i] for i in idx], categories=list(labels), ordered=True),
                     index=s.index, name="risk_group")


@dataclass
class RiskGroups:
    """Group labels, their Kaplan–Meier fits and the log-rank test across them."""

    groups: pd.Series
    km: KMResult
    test: LogRankResult


def stratify(
    risk: Sequence[float] | pd.Series,
    durations: Sequence[float],
    events: Sequence[int],
    cut: str | float | Sequence[float] = "median",
) -> RiskGroups:
    """Risk groups by cut-point, Kaplan–Meier per group and a log-rank test.

    Example:
        >>> rng = np.random.default_rng(0); r = rng.normal(size=200)
        >>> rg = stratify(r, rng.exponential(np.exp(-r)), np.ones(200))
        >>> rg.test.p_value < 0.05
        True
    """
    g = risk_groups(risk, cut)
    d = pd.DataFrame({"time": np.asarray(durations, float), "event": np.asarray(events),
                      "group": g.astype(str).to_numpy()})
    order = {lab: i for i, lab in enumerate(g.cat.categories)}
    d["group_rank"] = d["group"].map(order)
    km = kaplan_meier(d, "time", "event", "group_rank")
    km.fitters = {g.cat.categories[int(k)]: f for k, f in km.fitters.items()}
    for lab, f in km.fitters.items():
        f._label = lab
    return RiskGroups(g, km, logrank(d, "time", "event", "group"))
