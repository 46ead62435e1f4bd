"""MRMC analysis: the Obuchowski–Rockette (OR) method with jackknife covariances and Hillis's
denominator degrees of freedom, for random readers and cases (RRRC), fixed readers (FRRC) or fixed
cases (RRFC), on empirical AUCs.

Notation (Hillis 2005, 2007; as in RJafroc and MRMCaov): I modalities, J readers, K cases; θ_ij the AUC of
reader j in modality i. The case jackknife gives the covariance of the θ_ij; its averages are
Var (same modality and reader), Cov1 (same reader, different modalities), Cov2 (same modality, different
readers) and Cov3 (both different). With the mean squares MS(T), MS(R), MS(TR) of the θ_ij:

- RRRC: F = MS(T) / [MS(TR) + J·max(Cov2 − Cov3, 0)] on I − 1 and
  ddf_H = [MS(TR) + J·max(Cov2 − Cov3, 0)]² / (MS(TR)² / ((I − 1)(J − 1))) degrees of freedom;
  a difference of two modalities has SE = sqrt(2/J · [MS(TR) + J·max(Cov2 − Cov3, 0)]).
- FRRC: χ² = (I − 1)·MS(T) / [Var − Cov1 + (J − 1)·(Cov2 − Cov3)] on I − 1 df; normal CIs with
  SE = sqrt(2/J · [Var − Cov1 + (J − 1)(Cov2 − Cov3)]).
- RRFC: F = MS(T) / MS(TR) on I − 1 and (I − 1)(J − 1) df; SE = sqrt(2/J · MS(TR)).

A contrast row "B - A" is modality B minus modality A for every pair with A listed before B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from medwb.readers.errors import RatingsError
from medwb.readers.metrics import RatingsCube, jackknife_auc, ratings_cube

__all__ = ["MRMCResult", "mrmc", "or_statistics", "ANALYSES"]

ANALYSES = ("RRRC", "FRRC", "RRFC")


@dataclass
class MRMCResult:
    """The outcome of :func:`mrmc`.

    Attributes:
        analysis: "RRRC", "FRRC" or "RRFC".
        auc: AUC per reader (rows) and modality (columns).
        modality_auc: reader-averaged AUC per modality.
        contrasts: one row per pair of modalities ("B - A"); columns estimate, se, df, ci_low, ci_high,
            p_value (df is inf where the reference distribution is normal).
        modality_ci: per-modality estimate, se, df, ci_low, ci_high (each from that modality's data only).
        variance_components: OR estimates (rows reader, modality:reader, error, cov1, cov2, cov3; columns
            estimate and correlation = cov / error).
        test: the global test of equal modalities (statistic, df1, df2, p_value, kind "F" or "chi2").
        mean_squares: MS(T), MS(R), MS(TR).
        covariance: the jackknife covariance of the AUCs, ordered modality-major (modality, reader).
    """

    analysis: str
    auc: pd.DataFrame
    modality_auc: pd.Series
    contrasts: pd.DataFrame
    modality_ci: pd.DataFrame
    variance_components: pd.DataFrame
    test: dict[str, Any]
    mean_squares: dict[str, float]
    covariance: np.ndarray
    n_cases: int
    n_positive: int
    alpha: float = 0.05
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def readers(self) -> list[str]:
        return list(self.auc.index)

    @property
    def modalities(self) -> list[str]:
        return list(self.auc.columns)

    def summary(self) -> str:
        t = self.test
        lines = [f"MRMC {self.analysis} (Obuchowski–Rockette, jackknife covariances"
                 f"{', Hillis ddf' if self.analysis == 'RRRC' else ''}): {len(self.readers)} readers, "
                 f"{len(self.modalities)} modalities, {self.n_cases} cases ({self.n_positive} diseased)",
                 "AUC by modality: " + ", ".join(f"{m} {v:.4f}" for m, v in self.modality_auc.items()),
                 f"global test: {t['kind']} = {t['statistic']:.4f}, df = ({t['df1']:g}, {t['df2']:.4g}), "
                 f"p = {t['p_value']:.4g}"]
        for name, r in self.contrasts.iterrows():
            lines.append(f"{name}: {r.estimate:+.4f} (SE {r.se:.4f}), {100 * (1 - self.alpha):g}% CI "
                         f"[{r.ci_low:.4f}, {r.ci_high:.4f}], p = {r.p_value:.4g}")
        if self.meta.get("simulated"):
            lines.append("(simulated readers)")
        elif self.meta.get("simulated_readers"):
            lines.append(f"({len(self.meta['simulated_readers'])} of {len(self.readers)} readers simulated)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def or_statistics(auc: np.ndarray, cov: np.ndarray) -> dict[str, Any]:
    """OR mean squares and covariance averages from AUCs ``auc[i, j]`` and their covariance
    ``cov[(i, j), (i', j')]`` (modality-major)."""
    n_mod, n_rdr = auc.shape
    c = cov.reshape(n_mod, n_rdr, n_mod, n_rdr)
    same_i = np.eye(n_mod, dtype=bool)[:, None, :, None]
    same_j = np.eye(n_rdr, dtype=bool)[None, :, None, :]
    shape = c.shape

    def avg(mask: np.ndarray) -> float:
        mask = np.broadcast_to(mask, shape)
        return float(c[mask].mean()) if mask.any() else float("nan")

    var = avg(same_i & same_j)
    cov1 = avg(~same_i & same_j)
    cov2 = avg(same_i & ~same_j)
    cov3 = avg(~same_i & ~same_j)
    # per modality: its variance and Cov2 (from that modality's readers alone)
    var_i = np.array([np.diag(c[i, :, i, :]).mean() for i in range(n_mod)])
    cov2_i = np.array([c[i, :, i, :][~np.eye(n_rdr, dtype=bool)].mean() if n_rdr > 1 else np.nan
                       for i in range(n_mod)])
    grand = auc.mean()
    mod_mean, rdr_mean = auc.mean(axis=1), auc.mean(axis=0)
    ms_t = n_rdr * ((mod_mean - grand) ** 2).sum() / (n_mod - 1)
    ms_r = n_mod * ((rdr_mean - grand) ** 2).sum() / (n_rdr - 1) if n_rdr > 1 else float("nan")
    resid = auc - mod_mean[:, None] - rdr_mean[None, :] + grand
    ms_tr = (resid ** 2).sum() / ((n_mod - 1) * (n_rdr - 1)) if n_rdr > 1 else float("nan")
    ms_r_i = auc.var(axis=1, ddof=1) if n_rdr > 1 else np.full(n_mod, np.nan)
    return {"var": var, "cov1": cov1, "cov2": cov2, "cov3": cov3, "ms_t": ms_t, "ms_r": ms_r, "ms_tr": ms_tr,
            "var_i": var_i, "cov2_i": cov2_i, "ms_r_i": ms_r_i}


def _ci(est: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray,
                                                                              np.ndarray]:
    from scipy import stats

    df = np.asarray(df, float)
    q = np.where(np.isinf(df), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, np.where(
        np.isinf(df), 1.0, df)))
    z = est / se
    p = np.where(np.isinf(df), 2 * stats.norm.sf(np.abs(z)), 2 * stats.t.sf(np.abs(z), np.where(
        np.isinf(df), 1.0, df)))
    return est - q * se, est + q * se, p


def mrmc(ratings: pd.DataFrame, reader: str = "reader", modality: str = "modality", case: str = "case",
         truth: str = "truth", score: str = "rating", analysis: str = "RRRC", alpha: float = 0.05,
         design: Any = None) -> MRMCResult:
    """Compare modalities on empirical AUC across readers and cases (Obuchowski–Rockette, jackknife
    covariances, Hillis ddf); see the module docstring for the formulas.

    Args:
        ratings: one row per reader × modality × case (a fully crossed study).
        reader, modality, case, truth, score: column names; truth is 1 (diseased) / 0.
        analysis: "RRRC" (random readers and cases), "FRRC" (fixed readers) or "RRFC" (fixed cases).
        alpha: 1 − confidence level of the intervals.
        design: a StudyDesign; reader ids not in it are an error.

    Example:
        >>> from medwb.readers.simulate import simulate_study
        >>> res = mrmc(simulate_study(n_readers=4, n_cases=60, seed=1))
        >>> list(res.contrasts.index), res.auc.shape
        (['image+AI - image'], (4, 2))
    """
    analysis = analysis.upper()
    if analysis not in ANALYSES:
        raise RatingsError(f"analysis is {analysis!r}. Fix: use one of {list(ANALYSES)}.")
    cube = ratings_cube(ratings, reader, modality, case, truth, score,
                        readers=list(design.readers) if design is not None else None)
    res = _analyse(cube, analysis, alpha)
    simulated = [r for r in cube.readers if r.startswith("sim-")]  # simulate.py's reader ids
    if ratings.attrs.get("simulated") or len(simulated) == len(cube.readers):
        res.meta["simulated"] = True
    elif simulated:
        res.meta["simulated_readers"] = simulated
    return res


def _analyse(cube: RatingsCube, analysis: str, alpha: float) -> MRMCResult:
    n_mod, n_rdr, n_cases = cube.scores.shape
    if analysis in ("RRRC", "RRFC") and n_rdr < 2:
        raise RatingsError(f"{analysis} treats readers as random and needs two or more; there is "
                           f"{n_rdr} ({cube.readers}). Fix: use analysis='FRRC' or add readers.")
    auc, loo = jackknife_auc(cube.scores, cube.truth)
    d = (loo - loo.mean(axis=-1, keepdims=True)).reshape(n_mod * n_rdr, n_cases)
    cov = (n_cases - 1) / n_cases * (d @ d.T)
    s = or_statistics(auc, cov)
    var, cov1, cov2, cov3 = s["var"], s["cov1"], s["cov2"], s["cov3"]
    ms_t, ms_tr = s["ms_t"], s["ms_tr"]
    df1 = n_mod - 1
    from scipy import stats

    if analysis == "RRRC":
        den = ms_tr + n_rdr * max(cov2 - cov3, 0.0)
        df2 = den ** 2 / (ms_tr ** 2 / ((n_mod - 1) * (n_rdr - 1)))
        stat = ms_t / den
        test = {"kind": "F", "statistic": stat, "df1": df1, "df2": df2, "p_value": float(stats.f.sf(stat, df1, df2))}
        se_diff, df_diff = np.sqrt(2 / n_rdr * den), df2
        pos2 = np.maximum(s["cov2_i"], 0.0)
        se_i = np.sqrt(s["ms_r_i"] / n_rdr + pos2)
        df_i = (s["ms_r_i"] + n_rdr * pos2) ** 2 / (s["ms_r_i"] ** 2 / (n_rdr - 1))
    elif analysis == "FRRC":
        den = var - cov1 + (n_rdr - 1) * (cov2 - cov3) if n_rdr > 1 else var - cov1
        stat = df1 * ms_t / den
        test = {"kind": "chi2", "statistic": stat, "df1": df1, "df2": np.inf,
                "p_value": float(stats.chi2.sf(stat, df1))}
        se_diff, df_diff = np.sqrt(2 / n_rdr * den), np.inf
        cov2_i = np.nan_to_num(s["cov2_i"]) if n_rdr > 1 else np.zeros(n_mod)
        se_i = np.sqrt((s["var_i"] + (n_rdr - 1) * cov2_i) / n_rdr)
        df_i = np.full(n_mod, np.inf)
    else:  # RRFC
        df2 = (n_mod - 1) * (n_rdr - 1)
        stat = ms_t / ms_tr
        test = {"kind": "F", "statistic": stat, "df1": df1, "df2": float(df2),
                "p_value": float(stats.f.sf(stat, df1, df2))}
        se_diff, df_diff = np.sqrt(2 / n_rdr * ms_tr), float(df2)
        se_i = np.sqrt(s["ms_r_i"] / n_rdr)
        df_i = np.full(n_mod, float(n_rdr - 1))

    mod_auc = auc.mean(axis=1)
    pairs = list(combinations(range(n_mod), 2))
    est = np.array([mod_auc[b] - mod_auc[a] for a, b in pairs])
    se = np.full(len(pairs), se_diff)
    dfs = np.full(len(pairs), df_diff, float)
    lo, hi, p = _ci(est, se, dfs, alpha)
    contrasts = pd.DataFrame({"estimate": est, "se": se, "df": dfs, "ci_low": lo, "ci_high": hi, "p_value": p},
                             index=pd.Index([f"{cube.modalities[b]} - {cube.modalities[a]}" for a, b in pairs],
                                            name="contrast"))
    lo_i, hi_i, _ = _ci(mod_auc, se_i, df_i, alpha)
    modality_ci = pd.DataFrame({"estimate": mod_auc, "se": se_i, "df": df_i, "ci_low": lo_i, "ci_high": hi_i},
                               index=pd.Index(cube.modalities, name="modality"))
    var_tr = ms_tr - var + cov1 + (cov2 - cov3) if n_rdr > 1 else np.nan
    var_r = ((s["ms_r"] - var - (n_mod - 1) * cov1 + cov2 + (n_mod - 1) * cov3 - var_tr) / n_mod
             if n_rdr > 1 else np.nan)
    vc = pd.DataFrame({"estimate": [var_r, var_tr, var, cov1, cov2, cov3],
                       "correlation": [np.nan, np.nan, np.nan, cov1 / var, cov2 / var, cov3 / var]},
                      index=pd.Index(["reader", "modality:reader", "error", "cov1", "cov2", "cov3"],
                                     name="component"))
    return MRMCResult(
        analysis=analysis,
        auc=pd.DataFrame(auc.T, index=pd.Index(cube.readers, name="reader"),
                         columns=pd.Index(cube.modalities, name="modality")),
        modality_auc=pd.Series(mod_auc, index=pd.Index(cube.modalities, name="modality"), name="auc"),
        contrasts=contrasts, modality_ci=modality_ci, variance_components=vc, test=test,
        mean_squares={"T": ms_t, "R": s["ms_r"], "TR": ms_tr}, covariance=cov, n_cases=n_cases,
        n_positive=int(cube.truth.sum()), alpha=alpha,
        meta={"n_readers": n_rdr, "n_modalities": n_mod, "cases": n_cases},
    )
