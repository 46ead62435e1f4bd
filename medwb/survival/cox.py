"""Cox proportional-hazards models with standardisation, elastic-net penalty and feature selection.

``CoxModel`` is a small pipeline: (optional) univariate selection -> standardisation -> penalised Cox
fit, all learned from the table it is fitted on, so cross-validation (medwb.survival.validation) keeps
every step inside the folds. The fit is lifelines' CoxPHFitter (kept as ``model.lifelines_``) for up
to ``lifelines_max_p`` covariates, scikit-survival's Coxnet beyond (1000 features fit in a fraction of
a second where lifelines' Newton steps take minutes). Penalties are on the same scale in both:
lifelines ``penalizer=p`` equals Coxnet ``alphas=[p]`` on standardised covariates.
Hazard ratios are reported per unit of the ORIGINAL covariate (or per ``units[c]`` units).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medwb.survival._data import DataReport, SurvivalDataError, prepare
from medwb.survival.selection import univariate_score

__all__ = ["CoxModel", "CoxConvergenceError", "CoxConvergenceWarning", "fit_cox", "univariate_score"]

_CHECKLIST = (
    "Checklist (in the spirit of lifelines' ConvergenceError):\n"
    "  1. add a penalty: penalizer=0.1 (ridge) or penalizer=0.05, l1_ratio=0.5 (elastic net);\n"
    "  2. drop constant or near-duplicate columns (constant='drop'; see the columns named above);\n"
    "  3. keep standardize=True so every covariate has unit variance;\n"
    "  4. reduce the features inside the model: select_k=20 (univariate Cox score, learned per fold);\n"
    "  5. look for a covariate that separates events perfectly (complete separation => infinite HR)."
)


class CoxConvergenceError(ArithmeticError):
    """The Cox fit cannot converge as specified (same base class as lifelines' ConvergenceError)."""


class CoxConvergenceWarning(RuntimeWarning):
    """The Cox fit finished, but its estimates may be meaningless (e.g. complete separation)."""


#: |coefficient| per SD above which a fitted hazard ratio means separation, not an effect (HR > e^8 per SD).
SEPARATION_COEF = 8.0


class CoxModel:
    """Select -> standardise -> penalised Cox, fitted together on one table.

    Args:
        penalizer: penalty strength on standardised coefficients (lifelines' scale). 0 = none.
        l1_ratio: elastic-net mix, 0 = ridge, 1 = lasso.
        standardize: centre and scale covariates with training mean and SD (hazard ratios are still
            reported per original unit).
        select_k: keep the k covariates with the largest univariate Cox score (None = all).
        engine: "auto" (lifelines up to ``lifelines_max_p`` covariates, else Coxnet), "lifelines", "coxnet".
        units: covariate -> number of original units per reported hazard ratio, e.g. {"age": 10}.
        missing, constant: policies passed to the data check ("raise" | "drop" | "impute"; "raise" | "drop").
        lifelines_max_p: covariate count above which "auto" switches to Coxnet.

    Example:
        >>> from lifelines.datasets import load_lung
        >>> m = CoxModel().fit(load_lung(), "time", "status", ["age", "sex", "ph.ecog"], missing="drop")
        >>> round(float(m.hazard_ratios().loc["sex", "coef"]), 4)
        -0.5526
    """

    def __init__(
        self,
        penalizer: float = 0.0,
        l1_ratio: float = 0.0,
        standardize: bool = True,
        select_k: int | None = None,
        engine: str = "auto",
        units: dict[str, float] | None = None,
        missing: str = "raise",
        constant: str = "raise",
        lifelines_max_p: int = 100,
    ) -> None:
        if penalizer < 0 or not 0 <= l1_ratio <= 1:
            raise ValueError(f"need penalizer >= 0 and 0 <= l1_ratio <= 1, got {penalizer}, {l1_ratio}")
        if engine not in ("auto", "lifelines", "coxnet"):
            raise ValueError(f"engine={engine!r}: use 'auto', 'lifelines' or 'coxnet'")
        self.penalizer, self.l1_ratio, self.standardize = float(penalizer), float(l1_ratio), standardize
        self.select_k, self.engine, self.units = select_k, engine, dict(units or {})
        self.missing, self.constant, self.lifelines_max_p = missing, constant, lifelines_max_p
        self.notes: list[str] = []
        self.lifelines_: Any = None
        self.coxnet_: Any = None

    def clone(self) -> CoxModel:
        """An unfitted copy with the same settings (used per fold)."""
        return CoxModel(self.penalizer, self.l1_ratio, self.standardize, self.select_k, self.engine,
                        self.units, self.missing, self.constant, self.lifelines_max_p)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        covariates: Sequence[str] | None = None,
        missing: str | None = None,
    ) -> CoxModel:
        """Fit on ``df``; ``covariates`` defaults to every other numeric column."""
        if covariates is None:
            covariates = [c for c in df.columns if c not in (duration_col, event_col)]
        clean, rep = prepare(df, duration_col, event_col, covariates, missing or self.missing, self.constant)
        self.data_report: DataReport = rep
        self.duration_col, self.event_col = duration_col, event_col
        cols = [c for c in covariates if c in clean.columns]
        x = clean[cols].to_numpy(np.float64)
        t, e = clean[duration_col].to_numpy(), clean[event_col].to_numpy()
        policy = missing or self.missing
        # under "impute", NaNs met at prediction are filled with these training medians too
        self.impute_values_ = (clean[cols].median().to_dict() if policy == "impute" else {})
        if self.select_k is not None and self.select_k < len(cols):
            score = univariate_score(x, t, e)
            keep = np.sort(np.argsort(-score, kind="stable")[: self.select_k])
            self.univariate_scores_ = pd.Series(score, index=cols)
            cols, x = [cols[i] for i in keep], x[:, keep]
        self.covariates_ = cols
        self.mean_ = x.mean(axis=0) if self.standardize else np.zeros(len(cols))
        sd = x.std(axis=0) if self.standardize else np.ones(len(cols))
        self.scale_ = np.where(sd > 0, sd, 1.0)
        z = (x - self.mean_) / self.scale_
        p = len(cols)
        engine = self._choose_engine(p)
        if self.penalizer == 0:
            self._preflight_unpenalised(z, cols, rep.n_events)
        self.engine_ = engine
        if engine == "lifelines":
            self._fit_lifelines(z, t, e, cols)
        else:
            self._fit_coxnet(z, t, e)
        self.n_samples_, self.n_events_ = len(t), rep.n_events
        self._train_lp, self._train_t, self._train_e = z @ self.coef_std_, t, e
        return self

    def _choose_engine(self, p: int) -> str:
        """lifelines (Efron ties) or Coxnet (Breslow ties), and say so when the choice changes the fit."""
        engine = self.engine
        raw_penalty = self.penalizer > 0 and not self.standardize
        if engine == "auto":
            engine = "lifelines" if (p <= self.lifelines_max_p or self.penalizer == 0) else "coxnet"
            if raw_penalty and engine == "lifelines":
                engine = "coxnet"
                self.notes.append("standardize=False with a penalty: fitted with Coxnet, which penalises the "
                                  "raw coefficients (lifelines always penalises standardised ones)")
            elif engine == "coxnet":
                self.notes.append(
                    f"{p} covariates > lifelines_max_p={self.lifelines_max_p}: fitted with Coxnet, which handles "
                    "tied event times by Breslow's method, not Efron's; with many ties coefficients can differ "
                    "from the lifelines fit by 10% or more. Fix for comparability: engine='lifelines' "
                    "(slow at this size) or engine='coxnet' throughout.")
        if engine == "coxnet" and self.penalizer == 0:
            raise ValueError("engine='coxnet' needs penalizer > 0. Fix: set penalizer, or engine='lifelines'.")
        if engine == "lifelines" and raw_penalty:
            raise ValueError(
                "standardize=False with penalizer > 0 cannot be honoured by engine='lifelines': lifelines "
                "always penalises standardised coefficients.\nFix: engine='coxnet' (penalises the raw "
                "coefficients), or standardize=True.")
        return engine

    def _preflight_unpenalised(self, z: np.ndarray, cols: list[str], n_events: int) -> None:
        p = z.shape[1]
        if p >= n_events:
            raise CoxConvergenceError(
                f"{p} covariates but only {n_events} events with penalizer=0: the unpenalised Cox "
                "likelihood has no unique maximum.\n" + _CHECKLIST
            )
        rank = np.linalg.matrix_rank(z) if p <= 2000 else p
        if rank < p:
            c = np.corrcoef(z, rowvar=False) if p > 1 else np.ones((1, 1))
            i, j = np.where(np.triu(np.abs(c) > 0.999, 1))
            pairs = [f"{cols[a]} ~ {cols[b]}" for a, b in zip(i, j, strict=False)][:10]
            raise CoxConvergenceError(
                f"the covariates are collinear (rank {rank} < {p} columns); near-duplicate pairs: "
                f"{pairs or 'a linear combination of several columns'}.\n" + _CHECKLIST
            )

    def _fit_lifelines(self, z: np.ndarray, t: np.ndarray, e: np.ndarray, cols: list[str]) -> None:
        from lifelines import CoxPHFitter
        from lifelines.exceptions import ConvergenceError

        frame = pd.DataFrame(z, columns=cols)
        frame["__T"], frame["__E"] = t, e
        cph = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cph.fit(frame, "__T", "__E")
        except ConvergenceError as err:
            raise CoxConvergenceError(
                f"lifelines could not fit the Cox model on {len(cols)} covariates "
                f"(penalizer={self.penalizer}, l1_ratio={self.l1_ratio}): {str(err).splitlines()[0]}\n"
                + _CHECKLIST
            ) from err
        self.lifelines_ = cph
        self._fit_frame = frame
        self.coef_std_ = cph.params_.to_numpy()
        self.se_std_ = cph.standard_errors_.to_numpy()
        self._warn_separation(cols, [w for w in caught if issubclass(w.category, RuntimeWarning)])

    def _warn_separation(self, cols: list[str], caught: list[Any]) -> None:
        """Warn, lifelines-style, when a coefficient ran off to infinity (complete separation)."""
        from lifelines.exceptions import ConvergenceWarning

        runaway = [c for c, b in zip(cols, self.coef_std_, strict=True) if abs(b) > SEPARATION_COEF]
        told = [str(w.message).splitlines()[0] for w in caught if issubclass(w.category, ConvergenceWarning)]
        if not runaway and not told:
            return
        named = runaway or [c for c in cols if any(f"Column {c} " in m for m in told)]
        message = (
            f"the Cox fit did not find finite hazard ratios for {named or 'some covariates'}: "
            f"{'; '.join(told) or 'coefficients beyond ' + str(SEPARATION_COEF) + ' per SD'}. A covariate "
            "that (almost) perfectly separates events from non-events has an infinite hazard ratio, so its HR, "
            "SE and p-value are meaningless.\n" + _CHECKLIST
        )
        self.notes.append("convergence warning: " + message.splitlines()[0])
        warnings.warn(message, CoxConvergenceWarning, stacklevel=4)

    def _fit_coxnet(self, z: np.ndarray, t: np.ndarray, e: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sksurv.linear_model import CoxnetSurvivalAnalysis
        from sksurv.util import Surv

        l1 = self.l1_ratio
        if l1 == 0:
            l1 = 1e-3
            self.notes.append("Coxnet needs l1_ratio > 0: used 1e-3 (practically ridge)")
        model = CoxnetSurvivalAnalysis(alphas=[self.penalizer], l1_ratio=l1, normalize=False, max_iter=100000)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                model.fit(z, Surv.from_arrays(e.astype(bool), t))
            except (ConvergenceWarning, ArithmeticError) as err:
                raise CoxConvergenceError(
                    f"Coxnet did not converge on {z.shape[1]} covariates (penalizer={self.penalizer}, "
                    f"l1_ratio={l1}): {err}\n" + _CHECKLIST
                ) from err
        self.coxnet_ = model
        self.coef_std_ = model.coef_[:, 0].copy()
        self.se_std_ = np.full(len(self.coef_std_), np.nan)
        self.notes.append("Coxnet (Breslow ties): no standard errors; confidence intervals are NaN")

    # -- prediction ------------------------------------------------------------------------------
    def _z(self, df: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.covariates_ if c not in df.columns]
        if missing:
            raise SurvivalDataError(f"the table lacks covariates the model was fitted on: {missing[:10]}")
        x = df[self.covariates_].astype(float)
        if self.impute_values_:
            x = x.fillna({c: v for c, v in self.impute_values_.items() if c in x.columns})
        if x.isna().any().any():
            bad = x.columns[x.isna().any()].tolist()
            raise SurvivalDataError(f"missing values in {bad[:10]} at prediction. Fix: fit with missing='impute'.")
        return (x.to_numpy() - self.mean_) / self.scale_

    def predict_risk(self, df: pd.DataFrame) -> np.ndarray:
        """Linear predictor (log relative hazard; higher = worse) for each row."""
        return self._z(df) @ self.coef_std_

    def predict_survival(self, df: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
        """Survival probabilities, shape (rows, len(times)), from the Breslow baseline of the training fit.

        The baseline is a step function on both engines: between event times the survival stays at its
        value at the last event time (never interpolated).
        """
        times = np.asarray(times, dtype=float)
        if self.lifelines_ is not None:  # lifelines' own Breslow baseline, read as the step function it is
            h = self.lifelines_.baseline_cumulative_hazard_.iloc[:, 0]
            idx = np.searchsorted(h.index.to_numpy(), times, side="right") - 1
            h0 = np.where(idx >= 0, h.to_numpy()[np.clip(idx, 0, None)], 0.0)
            lp = self.lifelines_.predict_log_partial_hazard(pd.DataFrame(self._z(df), columns=self.covariates_))
            return np.exp(-np.outer(np.exp(lp.to_numpy()), h0))
        lp = self.predict_risk(df)
        h0 = self._breslow(times)
        return np.exp(-np.outer(np.exp(lp), h0))

    def _breslow(self, times: np.ndarray) -> np.ndarray:
        """Breslow's cumulative baseline hazard of the training fit at ``times`` (a step function).

        H0(t) = sum over event times s <= t of d(s) / sum of exp(lp) over everyone with time >= s;
        equals lifelines' baseline_cumulative_hazard_ and scikit-survival's BreslowEstimator to 1e-6
        (tests/survival/test_survival_breslow.py).
        """
        risk = np.exp(self._train_lp)
        order = np.argsort(self._train_t)
        t, e, r = self._train_t[order], self._train_e[order], risk[order]
        at_risk = np.cumsum(r[::-1])[::-1]
        first = np.searchsorted(t, t, side="left")
        inc = np.where(e == 1, 1.0 / at_risk[first], 0.0)
        cum = np.cumsum(inc)
        idx = np.searchsorted(t, times, side="right") - 1
        return np.where(idx >= 0, cum[np.clip(idx, 0, None)], 0.0)

    # -- reporting -------------------------------------------------------------------------------
    def hazard_ratios(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficients and hazard ratios per original unit (or per ``units[c]``), with Wald CIs.

        Columns: coef, se, hr, hr_lower, hr_upper, p, per (units per HR), coef_standardized, sd.
        With a penalty the CIs come from the penalised information matrix (approximate, shrunk).
        """
        from scipy import stats

        zq = stats.norm.ppf(1 - alpha / 2)
        per = np.array([self.units.get(c, 1.0) for c in self.covariates_])
        coef = self.coef_std_ / self.scale_
        se = self.se_std_ / self.scale_
        with np.errstate(invalid="ignore"):
            pval = 2 * stats.norm.sf(np.abs(self.coef_std_ / self.se_std_))
        return pd.DataFrame({
            "coef": coef, "se": se, "hr": np.exp(coef * per),
            "hr_lower": np.exp((coef - zq * se) * per), "hr_upper": np.exp((coef + zq * se) * per),
            "p": pval, "per": per, "coef_standardized": self.coef_std_, "sd": self.scale_,
        }, index=pd.Index(self.covariates_, name="covariate"))

    @property
    def log_likelihood_(self) -> float:
        """Partial log-likelihood of the fit (lifelines engine; Efron ties)."""
        if self.lifelines_ is None:
            raise AttributeError("log-likelihood is only kept for the lifelines engine")
        return float(self.lifelines_.log_likelihood_)

    def concordance(self) -> float:
        """Harrell's C on the training data (optimistic: use validation.cross_validate for honesty)."""
        from lifelines.utils import concordance_index

        return float(concordance_index(self._train_t, -self._train_lp, self._train_e))

    def ph_test(self, time_transform: str = "rank") -> pd.DataFrame:
        """Proportional-hazards check (Schoenfeld residual test, lifelines) as a tidy table.

        Columns: covariate, statistic, p, time_transform, violated (p < 0.05).
        """
        if self.lifelines_ is None:
            raise AttributeError("the PH test needs the lifelines engine (engine='lifelines')")
        from lifelines.statistics import proportional_hazard_test

        res = proportional_hazard_test(self.lifelines_, self._fit_frame, time_transform=time_transform)
        s = res.summary.reset_index()
        s = s.rename(columns={s.columns[0]: "covariate", "test_statistic": "statistic"})
        s["time_transform"] = time_transform
        s["violated"] = s["p"] < 0.05
        return s[["covariate", "statistic", "p", "time_transform", "violated"]]

    def summary(self) -> str:
        hr = self.hazard_ratios()
        head = (f"CoxModel engine={self.engine_} penalizer={self.penalizer} l1_ratio={self.l1_ratio} "
                f"n={self.n_samples_} events={self.n_events_}")
        return "\n".join([head, *self.notes, hr[["hr", "hr_lower", "hr_upper", "p", "per"]].to_string()])

    def __repr__(self) -> str:
        state = f"fitted on {len(self.covariates_)} covariates" if hasattr(self, "coef_std_") else "unfitted"
        return f"CoxModel(penalizer={self.penalizer}, l1_ratio={self.l1_ratio}, select_k={self.select_k}, {state})"


def fit_cox(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str] | None = None,
    penalizer: float = 0.0,
    l1_ratio: float = 0.0,
    standardize: bool = True,
    **kwargs: Any,
) -> CoxModel:
    """Fit a ``CoxModel`` in one call; see CoxModel for the other options (select_k, units, missing...).

    Example:
        >>> from lifelines.datasets import load_lung
        >>> m = fit_cox(load_lung(), "time", "status", ["age", "sex", "ph.ecog"], missing="drop",
        ...             units={"age": 10})
        >>> round(float(m.hazard_ratios().loc["age", "hr"]), 3)  # per 10 years
        1.117
    """
    model = CoxModel(penalizer=penalizer, l1_ratio=l1_ratio, standardize=standardize, **kwargs)
    return model.fit(df, duration_col, event_col, covariates)
