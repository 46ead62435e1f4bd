"""Does imaging add prognostic value over clinical data?

Compares a clinical-only Cox model with clinical + image features on the same folds:
cross-validated Harrell's C of both (every step learned inside the training folds; the mean over folds,
as everywhere in medwb.survival: see medwb.survival.validation), the difference ΔC with a bootstrap
confidence interval (cases resampled within each held-out fold), and a likelihood-ratio test on nested models.
With few image features the LR test uses them directly (unpenalised nested fits); with many it tests
one out-of-fold image signature (the cross-validated image-model risk score), which stays valid
because the signature of each case comes from a model that never saw that case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medwb.survival._data import DataReport, SurvivalDataError, positional, prepare, relabel
from medwb.survival.cox import CoxModel
from medwb.survival.validation import fit_fold, fold_indices

__all__ = ["AddedValueResult", "added_value", "join_features"]


@dataclass
class AddedValueResult:
    """Clinical vs clinical + image.

    Attributes:
        c_clinical, c_full: cross-validated Harrell's C (mean over held-out folds); delta_c = c_full - c_clinical.
        delta_c_ci: bootstrap percentile CI of delta_c (cases resampled within each fold, predictions fixed).
        folds: per-fold C of both models. lr_statistic, lr_df, lr_p: likelihood-ratio test;
        lr_on: "features" or "signature". adds_value: CI above 0 and LR p < alpha.
    """

    c_clinical: float
    c_full: float
    delta_c: float
    delta_c_ci: tuple[float, float]
    folds: pd.DataFrame
    lr_statistic: float
    lr_df: int
    lr_p: float
    lr_on: str
    alpha: float
    oof: pd.DataFrame
    data_report: DataReport = field(default_factory=DataReport)

    @property
    def adds_value(self) -> bool:
        return bool(self.delta_c_ci[0] > 0 and self.lr_p < self.alpha)

    def __str__(self) -> str:
        verdict = "adds" if self.adds_value else "does not demonstrably add"
        return (f"imaging {verdict} prognostic value: C {self.c_clinical:.3f} -> {self.c_full:.3f}, "
                f"ΔC = {self.delta_c:+.3f} [{self.delta_c_ci[0]:+.3f}, {self.delta_c_ci[1]:+.3f}]; "
                f"LR chi2 = {self.lr_statistic:.2f} on {self.lr_df} df ({self.lr_on}), p = {self.lr_p:.3g}")


def join_features(
    clinical: pd.DataFrame,
    features: pd.DataFrame,
    on: str = "case_id",
    missing_cases: str = "raise",
) -> tuple[pd.DataFrame, list]:
    """Join a clinical table with a feature table on ``on``; returns (joined, dropped case ids).

    Cases without features raise (default) or, with ``missing_cases="drop"``, are dropped and returned.

    Example:
        >>> c = pd.DataFrame({"case_id": ["a", "b"], "age": [60, 70]})
        >>> f = pd.DataFrame({"case_id": ["a"], "volume_mm3": [1.0]})
        >>> join_features(c, f, missing_cases="drop")[1]
        ['b']
    """
    for name, t in (("clinical", clinical), ("features", features)):
        if on not in t.columns:
            raise SurvivalDataError(f"the {name} table has no {on!r} column; columns: {list(t.columns)[:20]}")
    if features[on].duplicated().any():
        dup = features.loc[features[on].duplicated(), on].tolist()[:10]
        raise SurvivalDataError(f"the feature table lists cases more than once: {dup}. Fix: one row per case.")
    absent = sorted(set(clinical[on]) - set(features[on]), key=str)
    if absent and missing_cases != "drop":
        raise SurvivalDataError(
            f"{len(absent)} cases have no row in the feature table: {absent[:10]}.\n"
            "Fix: extract features for them, or pass missing_cases='drop' to leave them out (reported)."
        )
    overlap = [c for c in features.columns if c in clinical.columns and c != on]
    if overlap:
        raise SurvivalDataError(f"columns in both tables: {overlap[:10]}. Fix: rename the feature columns.")
    return clinical.merge(features, on=on, how="inner"), absent


def _lr(model: CoxModel, data: pd.DataFrame, tcol: str, ecol: str, base: list[str], extra: list[str]) -> tuple[float, int, float]:
    from scipy import stats

    m1 = CoxModel(penalizer=0.0, engine="lifelines").fit(data, tcol, ecol, base + extra)
    if base:
        ll0 = CoxModel(penalizer=0.0, engine="lifelines").fit(data, tcol, ecol, base).log_likelihood_
        stat = max(2.0 * (m1.log_likelihood_ - ll0), 0.0)
    else:  # against the null model (no covariates), as lifelines computes it
        stat = max(float(m1.lifelines_.log_likelihood_ratio_test().test_statistic), 0.0)
    return stat, len(extra), float(stats.chi2.sf(stat, len(extra)))


def added_value(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    clinical: Sequence[str],
    image: Sequence[str],
    model: CoxModel | None = None,
    clinical_model: CoxModel | None = None,
    n_splits: int = 5,
    n_boot: int = 1000,
    alpha: float = 0.05,
    max_lr_features: int = 10,
    seed: int = 0,
    missing: str = "raise",
) -> AddedValueResult:
    """Cross-validated added value of ``image`` features over ``clinical`` covariates.

    Args:
        model: template for clinical + image (default CoxModel(penalizer=0.1)); selection
            (select_k) and scaling happen inside each fold. clinical_model: template for the
            clinical-only model (default: unpenalised CoxModel).
        max_lr_features: above this many image features the LR test uses the out-of-fold signature.
        missing: "raise", "drop" or "impute". Under "impute" each fold imputes with its training
            medians; the whole-data LR test uses whole-data medians (listed in ``data_report``).

    Example:
        >>> df = medwb.demo.load_cohort().table           # lesion type and size drive survival there
        >>> res = added_value(df, "time", "event", ["age", "ecog"], ["label", "lesion_volume_ml"], n_boot=200)
        >>> res.adds_value, res.delta_c > 0, res.lr_df, res.lr_p < 0.001
        (True, True, 2, True)
        >>> print(res)                                     # doctest: +ELLIPSIS
        imaging adds prognostic value: C 0.5... -> 0.7..., ΔC = +0.1... [...]; LR chi2 = ... on 2 df ...
    """
    from lifelines.utils import concordance_index
    from tqdm.auto import tqdm

    clinical, image = list(clinical), list(image)
    df, labels = positional(df)
    if not image:
        raise ValueError("no image features given. Fix: pass the feature column names as image=[...].")
    model = model or CoxModel(penalizer=0.1)
    clinical_model = clinical_model or CoxModel()
    clean, rep = prepare(df, duration_col, event_col, clinical + image, missing)
    image = [c for c in image if c in clean.columns]
    imputed_full = clean
    if missing == "impute":  # folds impute with their own training medians; the LR test uses `clean`
        clean = clean.copy()
        clean[clinical + image] = df.loc[clean.index, clinical + image].astype(float)
    t, e = clean[duration_col].to_numpy(), clean[event_col].to_numpy()
    folds = fold_indices(e, n_splits, seed)
    oof = pd.DataFrame(np.nan, index=clean.index, columns=["clinical", "full", "image"])
    rows = []
    signature = len(image) > max_lr_features
    fold_missing = "impute" if missing == "impute" else "raise"
    for k, test_idx in enumerate(tqdm(folds, desc="added value", disable=len(clean) * len(image) < 200000)):
        mask = np.zeros(len(clean), bool)
        mask[test_idx] = True
        train, test = clean.iloc[~mask], clean.iloc[mask]
        where = f"fold {k + 1} of {n_splits}"
        if clinical:
            mc = fit_fold(clinical_model, train, duration_col, event_col, clinical, fold_missing, where)
            oof.iloc[test_idx, 0] = mc.predict_risk(test)
        else:  # no clinical covariates: the reference is a model without information (C = 0.5)
            oof.iloc[test_idx, 0] = 0.0
        mf = fit_fold(model, train, duration_col, event_col, clinical + image, fold_missing, where)
        oof.iloc[test_idx, 1] = mf.predict_risk(test)
        if signature:
            mi = fit_fold(model, train, duration_col, event_col, image, fold_missing, where)
            oof.iloc[test_idx, 2] = mi.predict_risk(test)
        tt, ee = t[test_idx], e[test_idx]
        rows.append({"fold": k, "n_test": len(test_idx), "c_clinical": concordance_index(tt, -oof.iloc[test_idx, 0], ee),
                     "c_full": concordance_index(tt, -oof.iloc[test_idx, 1], ee)})
    fold_tab = pd.DataFrame(rows)
    fold_tab["delta_c"] = fold_tab["c_full"] - fold_tab["c_clinical"]
    c_clin, c_full = float(fold_tab["c_clinical"].mean()), float(fold_tab["c_full"].mean())
    rc, rf = oof["clinical"].to_numpy(), oof["full"].to_numpy()
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):  # the same statistic as delta_c: the mean over folds, cases resampled per fold
        deltas = []
        for test_idx in folds:
            i = rng.choice(test_idx, len(test_idx))
            try:
                deltas.append(concordance_index(t[i], -rf[i], e[i]) - concordance_index(t[i], -rc[i], e[i]))
            except ZeroDivisionError:  # no comparable pair in this resample
                break
        boots[b] = np.mean(deltas) if len(deltas) == len(folds) else np.nan
    lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2])
    if signature:
        data = imputed_full[[duration_col, event_col, *clinical]].copy()
        data["image_signature"] = oof["image"]
        stat, dof, p = _lr(model, data, duration_col, event_col, clinical, ["image_signature"])
    else:
        stat, dof, p = _lr(model, imputed_full, duration_col, event_col, clinical, image)
    if labels is not None:
        oof.index = labels[oof.index]
    return AddedValueResult(c_clin, c_full, float(fold_tab["delta_c"].mean()), (float(lo), float(hi)),
                            fold_tab, stat, dof, p, "signature" if signature else "features", alpha, oof,
                            relabel(rep, labels))
