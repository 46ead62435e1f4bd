"""An honest comparison of prognostic models on the same held-out folds, in one table with bootstrap CIs.

Four models by default, each refitted inside every training fold and scored on its held-out fold:
clinical-only Cox; Cox on image features + clinical (medwb.survival.CoxModel, what existed before);
deep image-only; deep image + clinical (medwb.survival.deep). Metrics are scikit-survival's: Harrell's C
(concordance_index_censored), Uno's C (concordance_index_ipcw), cumulative/dynamic AUC at each horizon,
the integrated Brier score, and calibration at a fixed horizon (mean predicted survival minus the
Kaplan–Meier estimate of the fold). As everywhere in medwb.survival, a cross-validated metric is the
mean over folds (medwb.survival.validation); each fold is administratively censored just after the last
horizon (validation.truncate_follow_up). CIs: percentile bootstrap with cases resampled within each
held-out fold, predictions fixed, the same resamples for every model, so that ΔC (the added value of
imaging over the clinical model) has a paired CI.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medwb.survival._data import SurvivalDataError
from medwb.survival.deep.data import SurvivalData, check_horizon
from medwb.survival.validation import fold_indices, truncate_follow_up

__all__ = ["ComparisonResult", "compare_prognosis", "lesion_features", "score_fold", "METRICS"]

Predictor = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def METRICS(horizons: Sequence[float]) -> list[str]:  # noqa: N802 - reads as the constant it names
    """Metric column names for these horizons (days), in table order."""
    return ["harrell_c", "uno_c", *[_auc_name(h) for h in horizons], "ibs", "calibration"]


def _auc_name(days: float) -> str:
    """auc_1y, auc_2y, auc_1.5y ... (years to one decimal: 365, 730 and 1095 days are 1, 2 and 3 years)."""
    return f"auc_{round(float(days) / 365.25, 1):g}y"


@dataclass
class ComparisonResult:
    """The comparison: ``table`` (one row per model: metric, metric_lower, metric_upper, ..., delta_c
    with its CI), ``folds`` (per model and fold), ``oof`` (out-of-fold risk and survival at the
    calibration horizon), the horizons, and notes."""

    table: pd.DataFrame
    folds: pd.DataFrame
    oof: pd.DataFrame
    horizons: np.ndarray
    calibration_horizon: float
    n_boot: int
    notes: list[str] = field(default_factory=list)

    def summary(self, digits: int = 3) -> pd.DataFrame:
        """``value [lower, upper]`` strings, one column per metric (for a notebook or a report)."""
        out = {}
        names = [c for c in self.table.columns if not c.endswith(("_lower", "_upper"))]
        for c in names:
            v, lo, hi = (self.table[c], self.table.get(f"{c}_lower"), self.table.get(f"{c}_upper"))
            out[c] = [f"{a:.{digits}f}" + (f" [{b:.{digits}f}, {d:.{digits}f}]" if lo is not None else "")
                      for a, b, d in zip(v, lo if lo is not None else v, hi if hi is not None else v, strict=True)]
        return pd.DataFrame(out, index=self.table.index)


def score_fold(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], risk: np.ndarray,
               surv_grid: np.ndarray, grid: np.ndarray, surv_h: np.ndarray, horizons: np.ndarray,
               calibration_horizon: float) -> dict[str, float]:
    """Every metric of one held-out fold (scikit-survival; NaN where a metric cannot be scored)."""
    from sksurv.metrics import (
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )
    from sksurv.nonparametric import kaplan_meier_estimator
    from sksurv.util import Surv

    (t_tr, e_tr), (t_te, e_te) = train, test
    out: dict[str, float] = dict.fromkeys(METRICS(horizons), np.nan)
    end = float(max(horizons.max(), grid.max()))
    tt, te = truncate_follow_up(t_te, e_te, end)
    y_tr = Surv.from_arrays(e_tr.astype(bool), t_tr)
    y_te = Surv.from_arrays(te.astype(bool), tt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out["harrell_c"] = float(concordance_index_censored(e_te.astype(bool), t_te, risk)[0])
        except (ValueError, ZeroDivisionError):
            pass
        try:
            out["uno_c"] = float(concordance_index_ipcw(y_tr, y_te, risk, tau=end)[0])
        except (ValueError, ZeroDivisionError):
            pass
        for h in horizons:
            try:
                out[_auc_name(h)] = float(cumulative_dynamic_auc(y_tr, y_te, risk, [h])[0][0])
            except (ValueError, ZeroDivisionError, IndexError):
                pass
        try:
            out["ibs"] = float(integrated_brier_score(y_tr, y_te, surv_grid, grid))
        except (ValueError, ZeroDivisionError):
            pass
        km_t, km_s = kaplan_meier_estimator(e_te.astype(bool), t_te)
        i = np.searchsorted(km_t, calibration_horizon, side="right") - 1
        observed = float(km_s[i]) if i >= 0 else 1.0
        out["calibration"] = float(np.mean(surv_h)) - observed
    return out


def lesion_features(cohort: Any, progress: bool = True) -> pd.DataFrame:
    """The hand-made image features that existed before: lesion volume and intensity statistics from the
    cohort's lesion masks (medwb.features.extract, mask label 1). A case without a lesion gets volume 0
    and, for each intensity feature, the median of the cases that have one (a stated rule), plus
    ``has_lesion`` 0/1. With the demo's reference masks this is hand-made features on a perfect
    segmentation: a strong baseline, not a fair one to the networks, which see only the image.
    """
    from medwb.demo.truth import LABEL_LESION
    from medwb.features import extract

    f = extract(cohort, families=("shape", "intensity"), label=LABEL_LESION, on_empty="nan", progress=progress)
    cols = ["shape_volume_mm3", "intensity_mean", "intensity_sd", "intensity_p90", "intensity_p10"]
    out = f[["case_id", *cols]].copy()
    out["has_lesion"] = out["shape_volume_mm3"].notna().astype(float)
    out["shape_volume_mm3"] = out["shape_volume_mm3"].fillna(0.0)
    for c in cols[1:]:
        out[c] = out[c].fillna(float(out[c].median()))
    return out


def _cox_predictor(frame: pd.DataFrame, columns: list[str], penalizer: float) -> Predictor:
    from medwb.survival.cox import CoxModel

    def fit_predict(tr: np.ndarray, te: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = CoxModel(penalizer=penalizer, missing="impute").fit(frame.iloc[tr], "time", "event", columns)
        return m.predict_risk(frame.iloc[te]), m.predict_survival(frame.iloc[te], grid)

    return fit_predict  # type: ignore[return-value]


def _deep_predictor(data: SurvivalData, mode: str, kwargs: Mapping[str, Any]) -> Predictor:
    from medwb.survival.deep.fit import fit_prognosis

    def fit_predict(tr: np.ndarray, te: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = fit_prognosis(data.subset(tr), mode=mode, **{"progress": False, **kwargs})
        test = data.subset(te)
        eta = m.predict_risk(test)
        return eta, m.survival_from_eta(eta, grid)

    return fit_predict  # type: ignore[return-value]


def compare_prognosis(
    data: SurvivalData,
    image_features: pd.DataFrame | None = None,
    *,
    n_splits: int = 5,
    seed: int = 0,
    horizons: Sequence[float] = (365.0, 730.0, 1095.0),
    calibration_horizon: float = 730.0,
    n_boot: int = 200,
    alpha: float = 0.05,
    deep: Mapping[str, Any] | None = None,
    feature_penalizer: float = 0.1,
    models: Mapping[str, Predictor] | None = None,
    progress: bool = True,
) -> ComparisonResult:
    """Cross-validate the four prognostic models on the same folds and tabulate them with bootstrap CIs.

    Args:
        data: cases with images (medwb.survival.deep.survival_data).
        image_features: one row per case (``case_id`` + numeric columns) for the Cox image-feature model,
            e.g. ``lesion_features(cohort)``; None leaves that model out.
        horizons: days for AUC(t) (default 1, 2 and 3 years); the IBS integrates over 10 points from the
            10th percentile of event times to the last horizon. calibration_horizon: days.
        deep: keyword arguments of fit_prognosis for both networks (epochs, width, seed, ...).
        models: more models to compare, name -> fit_predict(train_idx, test_idx, grid) returning
            (risk of the test cases, survival of the test cases on ``grid``).
        n_boot: bootstrap resamples (0: no CIs).

    The first model is the reference of ΔC (the clinical Cox model by default).
    """
    from tqdm.auto import tqdm

    if data.images is None:
        raise SurvivalDataError("the deep models need images. Fix: survival_data(cohort, images=True).")
    horizons_arr = np.sort(check_horizon(list(horizons), data.time, "the cohort"))
    check_horizon(calibration_horizon, data.time, "the cohort")
    frame = data.clinical.copy()
    frame["time"], frame["event"] = data.time, data.event  # missing covariates: training-fold medians
    clinical_cols = data.clinical_columns
    candidates: dict[str, Predictor] = {"clinical Cox": _cox_predictor(frame, clinical_cols, 0.0)}
    if image_features is not None:
        feats = image_features.set_index("case_id") if "case_id" in image_features.columns else image_features
        feats.index = feats.index.astype(str)
        absent = [c for c in frame.index if c not in feats.index]
        if absent:
            raise SurvivalDataError(f"{len(absent)} case(s) have no image features: {absent[:10]}.\n"
                                    "Fix: extract features for every case (e.g. lesion_features(cohort)).")
        fcols = [c for c in feats.columns if c not in frame.columns]
        frame = frame.join(feats[fcols].astype(float))
        candidates["Cox image features + clinical"] = _cox_predictor(frame, clinical_cols + fcols, feature_penalizer)
    candidates["deep image-only"] = _deep_predictor(data, "image", deep or {})
    candidates["deep image + clinical"] = _deep_predictor(data, "fusion", deep or {})
    candidates.update(models or {})
    ev_t = data.time[data.event == 1]
    grid = np.linspace(float(np.quantile(ev_t, 0.1)), float(horizons_arr.max()), 10)
    folds = fold_indices(data.event, n_splits, seed)
    n = len(data)
    risk = {k: np.full(n, np.nan) for k in candidates}
    surv = {k: np.full((n, len(grid)), np.nan) for k in candidates}
    surv_h = {k: np.full(n, np.nan) for k in candidates}
    bar = tqdm(total=len(folds) * len(candidates), desc="compare", disable=not progress)
    for k, te in enumerate(folds):
        tr = np.setdiff1d(np.arange(n), te)
        if data.time[tr].max() < grid.max():
            raise SurvivalDataError(f"fold {k + 1}: the training follow-up ends before {grid.max():g} days. "
                                    "Fix: use shorter horizons.")
        for name, fit_predict in candidates.items():
            r, s = fit_predict(tr, te, np.append(grid, calibration_horizon))
            risk[name][te], surv[name][te], surv_h[name][te] = r, s[:, :-1], s[:, -1]
            bar.update()
    bar.close()
    t, e = data.time, data.event

    def all_metrics(sample: list[np.ndarray]) -> dict[str, list[dict[str, float]]]:
        out: dict[str, list[dict[str, float]]] = {name: [] for name in candidates}
        for te, idx in zip(folds, sample, strict=True):
            tr = np.setdiff1d(np.arange(n), te)
            for name in candidates:
                out[name].append(score_fold((t[tr], e[tr]), (t[idx], e[idx]), risk[name][idx], surv[name][idx],
                                            grid, surv_h[name][idx], horizons_arr, calibration_horizon))
        return out

    point = all_metrics(list(folds))
    names = METRICS(horizons_arr)
    ref = next(iter(candidates))
    rows, fold_rows = {}, []
    for name, per_fold in point.items():
        df = pd.DataFrame(per_fold)
        fold_rows += [{"model": name, "fold": i, **r} for i, r in enumerate(per_fold)]
        rows[name] = {**df.mean().to_dict(),
                      "delta_c": float((df["harrell_c"] - pd.DataFrame(point[ref])["harrell_c"]).mean())}
    table = pd.DataFrame(rows).T[[*names, "delta_c"]]
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        boots: dict[str, list[dict[str, float]]] = {name: [] for name in candidates}
        for _ in tqdm(range(n_boot), desc="bootstrap", disable=not progress):
            sample = [rng.choice(te, len(te)) for te in folds]
            res = all_metrics(sample)
            c_ref = pd.DataFrame(res[ref])["harrell_c"]
            for name, per_fold in res.items():
                df = pd.DataFrame(per_fold)
                boots[name].append({**df.mean().to_dict(), "delta_c": float((df["harrell_c"] - c_ref).mean())})
        for name in candidates:
            b = pd.DataFrame(boots[name])
            for c in [*names, "delta_c"]:
                table.loc[name, f"{c}_lower"] = float(np.nanquantile(b[c], alpha / 2))
                table.loc[name, f"{c}_upper"] = float(np.nanquantile(b[c], 1 - alpha / 2))
        order = [x for c in [*names, "delta_c"] for x in (c, f"{c}_lower", f"{c}_upper")]
        table = table[order]
    table.index.name = "model"
    oof = pd.DataFrame({"case_id": data.case_ids, "time": t, "event": e,
                        **{f"risk: {k}": v for k, v in risk.items()},
                        **{f"S({calibration_horizon:g}): {k}": v for k, v in surv_h.items()}}).set_index("case_id")
    notes = [f"{len(folds)} folds (seed {seed}); ΔC is Harrell's C minus that of {ref!r}",
             "calibration: mean predicted S(t) minus the fold's Kaplan–Meier S(t) at "
             f"{calibration_horizon:g} days (0 = calibrated in the large)"]
    return ComparisonResult(table.astype(float), pd.DataFrame(fold_rows), oof, horizons_arr,
                            float(calibration_horizon), n_boot, notes)
