"""SurvivalExplorer: fit a Cox model on clinical, image or both feature sets; KM by risk group.

Choose the feature set (and refine the covariates), the penalty and the risk cut-point: the Cox
model refits (medwb.survival.fit_cox) and the Kaplan–Meier curves of the low/high risk groups, the
log-rank test, the forest plot of hazard ratios and the C-index update. Moving the cut-point only
re-stratifies (no refit). The C-index shown by default is apparent (on the fitting data); tick
"cross-validated" for medwb.survival.cross_validate's out-of-fold Harrell C (5 folds).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

import medwb
from medwb.demo.truth import hazard_truth
from medwb.survival.design import design_frame
from medwb.widgets.safe_html import error_html, frame_html, text
from medwb.widgets.teaching import TeachingToggle

__all__ = ["SurvivalExplorer", "design_frame"]


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    fig = getattr(fig, "figure", fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


class SurvivalExplorer(w.VBox):
    """Interactive Cox model and risk-group Kaplan–Meier curves.

    Args:
        data: a medwb Cohort or a DataFrame with one row per case.
        features: optional image features (DataFrame with case_id), joined on case_id.
        clinical: clinical covariates (default: age, sex, ecog where present).
        image: image covariates (default: every column of ``features`` but case_id).
        duration_col, event_col: survival columns.
        truth: the true hazard ratios, drawn on the forest plot (red diamonds) with a fitted-vs-true
            table in teaching mode: a mapping covariate -> HR, or a demo ``cohort.ground_truth``
            (default when ``data`` is a demo Cohort). With the demo's truth the hazard ratios are
            reported on its scale (age per 10 years, lesion volume per 10 mL).
        truth_names: model covariate -> key of ``truth`` where the names differ (e.g. sex_M -> male).
        units: covariate -> units per reported HR (e.g. {"age": 10}); passed to the Cox fit.
        penalizer: initial ridge penalty (lifelines' scale).
        teaching: show the true hazard ratios (None follows ``medwb.widgets.set_teaching``); the
            "Show ground truth" button (``explorer.teaching``) flips it without refitting.

    Example:
        >>> ex = SurvivalExplorer(medwb.demo.load_cohort())    # add features=medwb.features.extract(...)
        >>> ex.covariates.value, ex.feature_set.options
        (('age', 'sex', 'ecog'), ('clinical', 'both'))
        >>> ex.km_image.value[:4] == b"\\x89PNG", ex.groups.groups.value_counts().to_dict()
        (True, {'low': 80, 'high': 80})
    """

    def __init__(self, data: medwb.Cohort | pd.DataFrame, *, features: pd.DataFrame | None = None,
                 clinical: Sequence[str] | None = None, image: Sequence[str] | None = None,
                 duration_col: str = "time", event_col: str = "event",
                 truth: Mapping[str, Any] | None = None, truth_names: Mapping[str, str] | None = None,
                 units: Mapping[str, float] | None = None, penalizer: float = 0.1,
                 teaching: bool | None = None) -> None:
        table = data.table if hasattr(data, "table") else data
        if truth is None and getattr(data, "ground_truth", None):
            truth = data.ground_truth if "survival_model" in data.ground_truth else None
        self.truth_names: dict[str, str] = dict(truth_names or {})
        self.units: dict[str, float] = dict(units or {})
        if truth is not None and "survival_model" in truth:
            hrs, names, demo_units = hazard_truth(truth)
            truth = hrs
            self.truth_names = {**names, **self.truth_names}
            self.units = {**demo_units, **self.units}
        table = table.copy()
        if features is not None:
            if "case_id" not in features or "case_id" not in table:
                raise ValueError("features and the table need a case_id column to be joined on; "
                                 f"features has {list(features.columns)[:8]}")
            feats = features.copy()
            feats["case_id"] = feats["case_id"].astype(str)
            table = table.merge(feats, on="case_id", how="left", suffixes=("", "_feature"))
        for col in (duration_col, event_col):
            if col not in table:
                raise ValueError(f"no column {col!r} in the table (columns: {list(table.columns)[:12]}...); "
                                 f"pass duration_col= / event_col=")
        self.table, self.duration_col, self.event_col = table, duration_col, event_col
        self.truth: dict[str, float] | None = {str(k): float(v) for k, v in truth.items()} if truth else None
        self.teaching = TeachingToggle(teaching)
        self.teaching.layout.display = None if self.truth else "none"
        self.truth_table = w.HTML()
        self.comparison: pd.DataFrame | None = None
        clinical = list(clinical) if clinical is not None else [c for c in ("age", "sex", "ecog") if c in table]
        image = list(image) if image is not None else (
            [c for c in features.columns if c != "case_id"] if features is not None else [])
        missing = [c for c in clinical + image if c not in table]
        if missing:
            raise ValueError(f"covariates not in the table: {missing}; columns are {list(table.columns)}")
        self.sets = {"clinical": clinical, "image": image, "both": clinical + image}
        options = [s for s in ("clinical", "image", "both") if self.sets[s]]
        if not options:
            raise ValueError("no covariates: pass clinical=[...] and/or features= / image=[...]")
        self.feature_set = w.ToggleButtons(options=options, value=options[0], description="features")
        self.covariates = w.SelectMultiple(description="covariates", rows=6, layout=w.Layout(width="330px"))
        self.penalizer = w.FloatLogSlider(value=penalizer, base=10, min=-3, max=1, step=0.25,
                                          description="penalty", continuous_update=False)
        self.cut = w.FloatSlider(value=0.5, min=0.1, max=0.9, step=0.05, description="cut (quantile)",
                                 continuous_update=False, style={"description_width": "initial"})
        self.cross_validated = w.Checkbox(value=False, description="cross-validated C-index", indent=False)
        self.stats = w.HTML()
        self.km_image = w.Image(format="png")
        self.forest_image = w.Image(format="png")
        self.model: Any = None
        self.risk: pd.Series | None = None
        self.groups: Any = None
        self.feature_set.observe(self._on_set, names="value")
        self._quiet = False
        self.covariates.observe(lambda _: None if self._quiet else self.fit(), names="value")
        for c in (self.penalizer, self.cross_validated):
            c.observe(lambda _: self.fit(), names="value")
        self.teaching.observe(lambda _: self._draw_forest(), names="value")
        self.cut.observe(lambda _: self.stratify(), names="value")
        super().__init__([
            w.HBox([self.feature_set, self.cross_validated, self.teaching]),
            w.HBox([self.covariates, w.VBox([self.penalizer, self.cut])]),
            self.stats,
            w.HBox([self.km_image, self.forest_image], layout=w.Layout(flex_flow="row wrap")),
            self.truth_table,
        ])
        self.add_class("medwb-survival-explorer")
        self._on_set({"new": self.feature_set.value})

    def _on_set(self, change: dict) -> None:
        cols = self.sets[change["new"]]
        self._quiet = True
        try:
            self.covariates.options = cols
            self.covariates.value = tuple(cols)
        finally:
            self._quiet = False
        self.fit()

    def fit(self) -> None:
        """Refit the Cox model on the chosen covariates, then re-stratify."""
        from medwb import survival

        cols = list(self.covariates.value)
        if not cols:
            self.stats.value = error_html("choose at least one covariate")
            return
        x, names = design_frame(self.table, cols)
        full = pd.concat([self.table[[self.duration_col, self.event_col]], x], axis=1)
        df = full.dropna()
        self._dropped = len(full) - len(df)
        self._df, self._names = df, names
        try:
            units = {c: u for c, u in self.units.items() if c in names}
            self.model = survival.fit_cox(df, self.duration_col, self.event_col, names,
                                          penalizer=self.penalizer.value, units=units)
        except Exception as exc:  # noqa: BLE001 - shown in the widget: the user can change the choice
            self.stats.value = error_html(f"Cox fit failed: {type(exc).__name__}: {exc}")
            return
        self.risk = pd.Series(self.model.predict_risk(df), index=df.index)
        self._cv_c = None
        if self.cross_validated.value:
            template = survival.CoxModel(penalizer=self.penalizer.value, units=units)
            cv = survival.cross_validate(template, df, self.duration_col, self.event_col, names, n_splits=5)
            self._cv_c = float(cv.folds["harrell_c"].mean())
        self._draw_forest()
        self.stratify()

    def _draw_forest(self) -> None:
        """The forest plot; in teaching mode with the true hazard ratios and a fitted-vs-true table."""
        from medwb import survival

        if self.model is None:
            return
        self.comparison = None
        if self.teaching.value and self.truth:
            hr = self.model.hazard_ratios()
            names = {c: t for c, t in self.truth_names.items() if c in hr.index and t in self.truth}
            try:
                self.comparison = survival.compare_hazard_ratios(hr, self.truth, names=names)
            except survival.SurvivalDataError:  # no chosen covariate has a known truth
                self.comparison = None
        if self.comparison is not None:
            fig = survival.forest_plot(self.comparison, title="fitted (CI) vs true hazard ratio (red)")
            shown = self.comparison[["hr", "hr_lower", "hr_upper", "per", "true_hr", "covered"]]
            shown = shown[shown["true_hr"].notna()]
            self.truth_table.value = ("<div class='medwb-truth'><b>Ground truth</b>: the hazard ratios the "
                                      "demo's survival times were drawn with<br>"
                                      + frame_html(shown, float_format=lambda v: f"{v:.3g}", border=0,
                                                   classes="medwb-hr-truth") + "</div>")
        else:
            fig = survival.forest_plot(self.model)
            self.truth_table.value = ""
        self.forest_image.value = _png(fig)

    def stratify(self) -> None:
        """Split at the chosen risk quantile and redraw the Kaplan–Meier curves."""
        from medwb import survival

        if self.risk is None:
            return
        df = self._df
        cut = float(np.quantile(self.risk, self.cut.value))
        self.groups = survival.stratify(self.risk.to_numpy(), df[self.duration_col].to_numpy(),
                                        df[self.event_col].to_numpy(), cut=cut)
        counts = self.groups.groups.value_counts().to_dict()
        self.km_image.value = _png(survival.plot_km(
            self.groups.km, title=f"risk groups at the {self.cut.value:.0%} quantile", at_risk=True))
        c = self.model.concordance()
        cv = f" · cross-validated C {self._cv_c:.3f}" if self._cv_c is not None else ""
        self.stats.value = (
            f"<span class='medwb-survival-stats'>n {len(df)}"
            + (f" ({self._dropped} with a missing covariate left out)" if self._dropped else "")
            + f" · events {int(df[self.event_col].sum())} · "
            f"apparent C-index {c:.3f}{cv} · groups {text(counts)} · log-rank p {self.groups.test.p_value:.3g}</span>")

    def show_patient(self, model: Any, volume: Any, clinical: Any, **kwargs: Any) -> Any:
        """Add one patient under a deep survival model below the explorer and return that view: the survival
        curve with its band, the risk attribution in a CaseViewer, covariate bars and "what if" sliders
        (medwb.widgets.prognosis_patient.PatientPrognosis; ``kwargs`` go there, e.g. mask=...)."""
        from medwb.widgets.prognosis_patient import PatientPrognosis

        view = PatientPrognosis(model, volume, clinical, **kwargs)
        self.children = (*self.children, view)
        return view

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        import base64

        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self.km_image.value:
            data["image/png"] = base64.b64encode(self.km_image.value).decode()
        data["text/plain"] = f"SurvivalExplorer({', '.join(self.covariates.value)})"
        return bundle
