"""Per-reader performance: the ratings table checked and shaped, empirical AUC, its case jackknife,
sensitivity/specificity at a threshold, ROC curves and reading times.

The case jackknife of an empirical (Wilcoxon) AUC has a closed form through DeLong's placement values,
so no AUC is recomputed: with m diseased and n non-diseased cases, V10_p the fraction of non-diseased
ratings below diseased case p (ties count 1/2) and V01_q the fraction of diseased ratings above
non-diseased case q, AUC = mean(V10) = mean(V01), and leaving out case p (or q) gives
(m·AUC − V10_p)/(m − 1) (or (n·AUC − V01_q)/(n − 1)). Placement values come from midranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medwb.readers.errors import RatingsError, rows_text

__all__ = ["RatingsCube", "ratings_cube", "empirical_auc", "jackknife_auc", "operating_points",
           "roc_curves", "reading_times"]


@dataclass(frozen=True)
class RatingsCube:
    """Ratings as an array ``scores[modality, reader, case]`` with ``truth[case]`` (bool)."""

    scores: np.ndarray
    truth: np.ndarray
    modalities: list[str]
    readers: list[str]
    cases: list[str]


def _order(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in set(values)]
    return list(dict.fromkeys(values.tolist()))


def _labels(values: pd.Series) -> pd.Series:
    """Values as plain strings (categoricals too), so groupby keeps only what is there."""
    return values.astype(str).astype(object)


def _in_order(table: pd.DataFrame, modalities: pd.Series, readers: pd.Series) -> pd.DataFrame:
    """Rows sorted by the modalities' and readers' own order (summary rows such as "(mean)" last)."""
    m = {str(v): i for i, v in enumerate(_order(modalities))}
    r = {str(v): i for i, v in enumerate(_order(readers))}
    key = pd.DataFrame({"m": table["modality"].map(m), "r": table["reader"].map(r).fillna(len(r))})
    return table.iloc[np.lexsort((key.r.to_numpy(), key.m.to_numpy()))].reset_index(drop=True)


def ratings_cube(ratings: pd.DataFrame, reader: str = "reader", modality: str = "modality", case: str = "case",
                 truth: str = "truth", score: str = "rating", readers: list[str] | None = None) -> RatingsCube:
    """Check a long ratings table (one row per reader × modality × case) and shape it as a cube.

    Errors name the offending rows: missing columns, non-numeric or missing scores, missing or
    non-binary truth, truth that differs between rows of one case, a single truth class, duplicate
    (reader, modality, case) rows, cases not read by every reader in every modality, and (when
    ``readers`` lists the design's readers) reader ids that are not in the design.
    Modalities, readers and cases keep their order of first appearance (or categorical order).
    """
    cols = [reader, modality, case, truth, score]
    missing = [c for c in cols if c not in ratings.columns]
    if missing:
        raise RatingsError(f"the ratings table has no column {missing}; it has {list(ratings.columns)}. "
                           "Fix: rename the columns or pass reader=, modality=, case=, truth=, score=.")
    df = ratings[cols]
    if readers is not None:
        bad = df.index[~df[reader].astype(str).isin([str(r) for r in readers])].tolist()
        if bad:
            ids = sorted(set(df.loc[bad, reader].astype(str)))
            raise RatingsError(f"reader ids {ids[:10]} are not in the design ({rows_text(bad)}). "
                               "Fix: correct the ids, or add the readers to the design.")
    scores = pd.to_numeric(df[score], errors="coerce")
    bad = df.index[scores.isna() | ~np.isfinite(scores.fillna(0.0))].tolist()
    if bad:
        raise RatingsError(f"column {score!r} is not a finite number in {rows_text(bad)} "
                           f"(e.g. {df.loc[bad[0], score]!r}). Fix: give every reading a numeric rating.")
    t = pd.to_numeric(df[truth], errors="coerce")
    bad = df.index[~t.isin([0, 1])].tolist()
    if bad:
        raise RatingsError(f"truth must be 0 or 1; it is {df.loc[bad[0], truth]!r} in {rows_text(bad)}. "
                           "Fix: code the reference standard as 1 (diseased) / 0 (not), without gaps.")
    per_case = t.groupby(df[case], observed=True).nunique()
    mixed = per_case.index[per_case > 1].tolist()
    if mixed:
        rows = df.index[df[case].isin(mixed)].tolist()
        raise RatingsError(f"cases {mixed[:10]} have different truth in different rows ({rows_text(rows)}). "
                           "Fix: one truth per case.")
    dup = df.duplicated([reader, modality, case], keep=False)
    if dup.any():
        rows = df.index[dup].tolist()
        first = df.loc[rows[0]]
        raise RatingsError(f"(reader, modality, case) repeats in {rows_text(rows)}, e.g. "
                           f"({first[reader]!r}, {first[modality]!r}, {first[case]!r}). "
                           "Fix: keep one rating per reader, modality and case.")
    mods, rdrs, cs = _order(df[modality]), _order(df[reader]), _order(df[case])
    if len(mods) < 2:
        raise RatingsError(f"only one modality ({mods}): MRMC compares two or more. "
                           "Fix: include the ratings of every arm.")
    if len(df) != len(mods) * len(rdrs) * len(cs):
        counts = df.groupby(case, observed=True).size()
        short = counts.index[counts < len(mods) * len(rdrs)].tolist()
        have = set(zip(df[reader], df[modality], df[case]))
        gaps = [(r, m, c) for c in short[:3] for m in mods for r in rdrs if (r, m, c) not in have][:5]
        rows = df.index[df[case].isin(short)].tolist()
        raise RatingsError(f"cases {short[:10]} are not read by every reader in every modality "
                           f"({rows_text(rows)}); missing (reader, modality, case): {gaps}. "
                           "Fix: drop those cases (the analysis needs a fully crossed design) or add the "
                           "missing readings.")
    truth_by_case = t.groupby(df[case], observed=True).first()
    tc = np.array([truth_by_case[c] == 1 for c in cs])
    if tc.all() or not tc.any():
        raise RatingsError(f"every case has truth {int(tc[0])}: ROC analysis needs both classes. "
                           "Fix: include diseased and non-diseased cases.")
    if min(tc.sum(), (~tc).sum()) < 2:
        raise RatingsError(f"only {min(tc.sum(), (~tc).sum())} case of one class: the case jackknife needs "
                           "at least two of each. Fix: add cases.")
    mi = pd.Index(mods).get_indexer(df[modality])
    ri = pd.Index(rdrs).get_indexer(df[reader])
    ci = pd.Index(cs).get_indexer(df[case])
    cube = np.empty((len(mods), len(rdrs), len(cs)))
    cube[mi, ri, ci] = scores.to_numpy(float)
    return RatingsCube(cube, tc, [str(m) for m in mods], [str(r) for r in rdrs], [str(c) for c in cs])


def _placements(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values V10 (..., m) and V01 (..., n) along the last axis."""
    from scipy.stats import rankdata

    pos, neg = scores[..., truth], scores[..., ~truth]
    m, n = pos.shape[-1], neg.shape[-1]
    ranks = rankdata(np.concatenate([pos, neg], axis=-1), axis=-1)
    v10 = (ranks[..., :m] - rankdata(pos, axis=-1)) / n
    v01 = (m - (ranks[..., m:] - rankdata(neg, axis=-1))) / m
    return v10, v01


def empirical_auc(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Empirical (Wilcoxon) AUC along the last axis; ties count one half.

    Example:
        >>> float(empirical_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])))
        0.75
    """
    truth = np.asarray(truth, bool)
    v10, _ = _placements(np.asarray(scores, float), truth)
    return v10.mean(axis=-1)


def jackknife_auc(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AUC, leave-one-case-out AUCs) along the last axis, by the placement-value closed form.

    The second array has the cases' axis last, in the original case order.

    Example:
        >>> auc, loo = jackknife_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
        >>> loo.round(3).tolist()
        [0.5, 1.0, 1.0, 0.5]
    """
    truth = np.asarray(truth, bool)
    v10, v01 = _placements(np.asarray(scores, float), truth)
    m, n = v10.shape[-1], v01.shape[-1]
    auc = v10.mean(axis=-1)
    loo = np.empty(np.shape(scores), float)
    loo[..., truth] = (m * auc[..., None] - v10) / (m - 1)
    loo[..., ~truth] = (n * auc[..., None] - v01) / (n - 1)
    return auc, loo


def operating_points(ratings: pd.DataFrame, threshold: float, reader: str = "reader",
                     modality: str = "modality", truth: str = "truth", score: str = "rating") -> pd.DataFrame:
    """Sensitivity and specificity per reader and modality, calling a case positive when its rating
    is at or above ``threshold``; the mean over readers is in rows with reader "(mean)".

    Example:
        >>> df = pd.DataFrame({"reader": ["r"] * 4, "modality": ["A"] * 4, "truth": [0, 0, 1, 1],
        ...                    "rating": [1, 4, 3, 5]})
        >>> operating_points(df, 3)[["sensitivity", "specificity"]].iloc[0].tolist()
        [1.0, 0.5]
    """
    call = pd.to_numeric(ratings[score]) >= threshold
    t = ratings[truth].astype(int) == 1
    g = pd.DataFrame({"modality": _labels(ratings[modality]), "reader": _labels(ratings[reader]),
                      "tp": call & t, "tn": ~call & ~t, "pos": t, "neg": ~t})
    s = g.groupby(["modality", "reader"], sort=False)[["tp", "tn", "pos", "neg"]].sum()
    out = pd.DataFrame({"sensitivity": s.tp / s.pos, "specificity": s.tn / s.neg}).reset_index()
    mean = out.groupby("modality", sort=False)[["sensitivity", "specificity"]].mean().reset_index()
    mean.insert(1, "reader", "(mean)")
    out = _in_order(pd.concat([out, mean], ignore_index=True), ratings[modality], ratings[reader])
    out["threshold"] = threshold
    return out


def roc_curves(ratings: pd.DataFrame, reader: str = "reader", modality: str = "modality",
               truth: str = "truth", score: str = "rating", grid: int = 101) -> pd.DataFrame:
    """Empirical ROC points per reader and modality, plus a pooled curve per modality (reader "(mean)":
    true-positive rate averaged over readers at each false-positive rate of a ``grid``-point grid).
    Columns: modality, reader, fpr, tpr."""
    from sklearn.metrics import roc_curve

    parts = []
    fpr_grid = np.linspace(0.0, 1.0, grid)
    mods, rdrs = _labels(ratings[modality]), _labels(ratings[reader])
    for m in _order(ratings[modality]):
        by_mod = ratings[mods == str(m)]
        tprs = []
        for r in _order(by_mod[reader]):
            d = by_mod[rdrs[by_mod.index] == str(r)]
            fpr, tpr, _ = roc_curve(d[truth].astype(int), pd.to_numeric(d[score]))
            parts.append(pd.DataFrame({"modality": m, "reader": r, "fpr": fpr, "tpr": tpr}))
            tprs.append(np.interp(fpr_grid, fpr, tpr))
        pooled = np.mean(tprs, axis=0)
        pooled[0] = 0.0
        parts.append(pd.DataFrame({"modality": m, "reader": "(mean)", "fpr": fpr_grid, "tpr": pooled}))
    return pd.concat(parts, ignore_index=True)


def reading_times(answers: pd.DataFrame, reader: str = "reader", modality: str = "modality",
                  seconds: str = "seconds") -> pd.DataFrame:
    """Reading time per case: count, median, mean and total seconds per reader and modality, with
    each modality's overall figures in rows with reader "(all)"."""
    d = answers.dropna(subset=[seconds])
    d = d.assign(**{modality: _labels(d[modality]), reader: _labels(d[reader])})
    agg = {"n": (seconds, "size"), "median_s": (seconds, "median"), "mean_s": (seconds, "mean"),
           "total_s": (seconds, "sum")}
    per = d.groupby([modality, reader], sort=False).agg(**agg).reset_index()
    overall = d.groupby(modality, sort=False).agg(**agg).reset_index()
    overall.insert(1, reader, "(all)")
    out = pd.concat([per, overall], ignore_index=True).rename(columns={modality: "modality", reader: "reader"})
    out = _in_order(out, answers[modality], answers[reader])
    return out.rename(columns={"modality": modality, "reader": reader})
