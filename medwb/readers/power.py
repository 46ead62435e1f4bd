"""How many readers and cases? Power and sample size of a two-arm MRMC study from a pilot's
Obuchowski–Rockette variance components (Hillis & Berbaum 2004; Hillis, Obuchowski & Berbaum 2011).

With J readers and K cases planned, a pilot of K* cases and its OR estimates σ²_TR, Var, Cov1, Cov2,
Cov3 (the case-level terms scale as K*/K), and an effect size d (difference of reader-averaged AUCs):

- RRRC: den = σ²_TR + (K*/K)·[Var − Cov1 + (J − 1)·max(Cov2 − Cov3, 0)], noncentrality
  λ = J·d² / (2·den), ddf = den² / ([σ²_TR + (K*/K)(Var − Cov1 − max(Cov2 − Cov3, 0))]² / (J − 1));
  power = P(F'(1, ddf, λ) > F_{1−α}(1, ddf)).
- FRRC: σ²_TR = 0 and a noncentral χ²(1, λ) test.
- RRFC: den = σ²_TR + (K*/K)(Var − Cov1 − max(Cov2 − Cov3, 0)), ddf = J − 1.

σ²_TR is truncated at 0 (as RJafroc does). The figures match RJafroc's SsPowerGivenJK for its Van Dyke
example (tests/readers/test_power.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medwb.readers.errors import ReaderStudyError

__all__ = ["PilotComponents", "power", "sample_size", "power_table"]


@dataclass(frozen=True)
class PilotComponents:
    """OR variance components of a pilot study of ``n_cases`` cases (see :func:`PilotComponents.from_result`)."""

    var_tr: float
    var: float
    cov1: float
    cov2: float
    cov3: float
    n_cases: int
    effect: float | None = None

    @classmethod
    def from_result(cls, result: Any) -> PilotComponents:
        """From an :class:`~medwb.readers.mrmc.MRMCResult` (any analysis); ``effect`` is its first contrast."""
        vc = result.variance_components["estimate"]
        return cls(var_tr=float(vc["modality:reader"]), var=float(vc["error"]), cov1=float(vc["cov1"]),
                   cov2=float(vc["cov2"]), cov3=float(vc["cov3"]), n_cases=int(result.n_cases),
                   effect=float(result.contrasts["estimate"].iloc[0]))


def _pilot(pilot: Any) -> PilotComponents:
    if isinstance(pilot, PilotComponents):
        return pilot
    if isinstance(pilot, Mapping):
        return PilotComponents(**pilot)
    if hasattr(pilot, "variance_components"):
        return PilotComponents.from_result(pilot)
    raise ReaderStudyError(f"pilot is a {type(pilot).__name__}. Fix: pass an MRMCResult of the pilot study "
                           "or PilotComponents(var_tr=..., var=..., cov1=..., cov2=..., cov3=..., n_cases=...).")


def _terms(p: PilotComponents, readers: int, cases: float, analysis: str) -> tuple[float, float, float]:
    """(readers, den, ddf) of the test for ``readers`` × ``cases`` (ddf inf for the χ² test)."""
    var_tr = max(p.var_tr, 0.0)
    scale = p.n_cases / cases
    dc = max(p.cov2 - p.cov3, 0.0)
    if analysis == "RRRC":
        den = var_tr + scale * (p.var - p.cov1 + (readers - 1) * dc)
        ddf = den ** 2 / ((var_tr + scale * (p.var - p.cov1 - dc)) ** 2 / (readers - 1))
    elif analysis == "FRRC":
        den, ddf = scale * (p.var - p.cov1 + (readers - 1) * dc), np.inf
    elif analysis == "RRFC":
        den, ddf = var_tr + scale * (p.var - p.cov1 - dc), readers - 1
    else:
        raise ReaderStudyError(f"analysis is {analysis!r}. Fix: use 'RRRC', 'FRRC' or 'RRFC'.")
    return float(readers), den, ddf


def power(effect: float | None, readers: int, cases: int, pilot: Any, analysis: str = "RRRC",
          alpha: float = 0.05) -> float:
    """Power to detect an AUC difference ``effect`` (None: the pilot's observed one) with ``readers`` readers
    and ``cases`` cases, from the ``pilot``'s OR variance components.

    Example:
        >>> p = PilotComponents(var_tr=2e-4, var=8e-4, cov1=3.5e-4, cov2=3.4e-4, cov3=2.4e-4, n_cases=114)
        >>> round(power(0.05, readers=6, cases=200, pilot=p), 3)
        0.851
    """
    from scipy import stats

    p = _pilot(pilot)
    effect = p.effect if effect is None else effect
    if effect is None:
        raise ReaderStudyError("no effect size. Fix: pass effect= (an AUC difference, e.g. 0.05).")
    analysis = analysis.upper()
    if readers < (1 if analysis == "FRRC" else 2) or cases < 2:
        raise ReaderStudyError(f"{readers} readers and {cases} cases cannot be analysed with {analysis}. "
                               "Fix: plan at least 2 readers (1 for FRRC) and 2 cases.")
    j, den, ddf = _terms(p, readers, cases, analysis)
    ncp = j * effect ** 2 / 2 / den
    if np.isinf(ddf):
        return float(stats.ncx2.sf(stats.chi2.ppf(1 - alpha, 1), 1, ncp))
    return float(stats.ncf.sf(stats.f.ppf(1 - alpha, 1, ddf), 1, ddf, ncp))


def sample_size(effect: float | None, readers: int, pilot: Any, target: float = 0.8, analysis: str = "RRRC",
                alpha: float = 0.05, max_cases: int = 100_000) -> int | None:
    """The fewest cases that give ``target`` power with ``readers`` readers (None if even ``max_cases`` do not:
    with random readers, more cases cannot make up for too few readers).

    Example:
        >>> p = PilotComponents(var_tr=2e-4, var=8e-4, cov1=3.5e-4, cov2=3.4e-4, cov3=2.4e-4, n_cases=114)
        >>> sample_size(0.05, readers=6, pilot=p)
        165
    """
    def ok(k: int) -> bool:
        return power(effect, readers, k, pilot, analysis, alpha) >= target

    if not ok(max_cases):
        return None
    lo, hi = 2, max_cases
    while lo < hi:  # power grows with cases: bisect for the first k that reaches the target
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def power_table(pilot: Any, effect: float | None = None, readers: Iterable[int] = range(3, 16),
                target: float = 0.8, analysis: str = "RRRC", alpha: float = 0.05) -> pd.DataFrame:
    """For each number of readers, the cases needed for ``target`` power and the power reached.

    Example:
        >>> p = PilotComponents(var_tr=2e-4, var=8e-4, cov1=3.5e-4, cov2=3.4e-4, cov3=2.4e-4, n_cases=114)
        >>> power_table(p, 0.05, readers=[4, 8]).cases.tolist()
        [357, 130]
    """
    rows = []
    for j in readers:
        k = sample_size(effect, j, pilot, target, analysis, alpha)
        rows.append({"readers": j, "cases": k, "power": power(effect, j, k, pilot, analysis, alpha)
                     if k is not None else np.nan})
    return pd.DataFrame(rows)
