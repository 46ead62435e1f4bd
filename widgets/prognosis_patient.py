"""PatientPrognosis: one patient under a deep survival model (medwb.survival.deep).

The predicted survival curve with its band, the risk attribution overlaid in a CaseViewer, the clinical
covariates' contributions to the log hazard (against the cohort's medians) as bars, and one "what if"
slider per covariate that redraws the curve and the bars at once. The network is run once per patient
(the image branch, with its Monte-Carlo-dropout draws); a slider only recomputes the clinical branch,
which is exact because the fusion is a sum of the two branches' log hazards. Display only: the numbers
come from medwb.survival.deep.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

import medwb
from medwb.widgets.safe_html import text

__all__ = ["PatientPrognosis"]


def _png(fig: Any) -> bytes:
    from medwb.widgets.survival_explorer import _png as figure_png  # the explorer's one figure -> PNG rule

    return figure_png(fig)


class PatientPrognosis(w.VBox):
    """A patient's predicted survival, its explanation and "what if" sliders.

    Args:
        model: a medwb.survival.deep.PrognosisModel. volume: the patient's CT (None for clinical-only).
        clinical: the patient's clinical values (a table row or a dict of raw values).
        mask: optional lesion mask drawn as contours in the viewer. horizon: days marked on the curve.
        ranges: covariate -> (min, max) of its slider (default: the training cases' range).
        attribution: "integrated_gradients" (default), another medwb.explain method, or None (no viewer).
    """

    def __init__(self, model: Any, volume: medwb.Volume | None, clinical: Any, *, mask: Any = None,
                 horizon: float | None = None, ranges: dict[str, tuple[float, float]] | None = None,
                 attribution: str | None = "integrated_gradients", n_samples: int = 30) -> None:
        from medwb.survival.deep import Risk

        self.model = model
        self.times = np.linspace(0.0, model.last_time, 61)[1:]
        self.horizon = float(horizon) if horizon is not None else float(np.median(self.times))
        coded = model.code(clinical).iloc[0]
        self.eta_median, self.samples = model.eta_samples(volume, None, n_samples=n_samples)
        self.reference = model.band(self.eta_median, self.samples, self.times)
        ranges = dict(ranges or {})
        self.sliders: dict[str, w.FloatSlider] = {}
        for c, sd in zip(model.columns, model.sd, strict=True):
            med = model.medians[c]
            lo, hi = ranges.get(c, model.ranges.get(c, (np.floor(med - 2.5 * sd), np.ceil(med + 2.5 * sd))))
            binary = (lo, hi) == (0.0, 1.0)
            val = float(coded[c])
            s = w.FloatSlider(value=min(max(val, lo), hi), min=float(min(lo, val)), max=float(max(hi, val)),
                              step=1.0 if (binary or float(val).is_integer()) else 0.1, description=text(c),
                              continuous_update=True)
            s.observe(lambda _: self.update(), names="value")
            self.sliders[c] = s
        self.reset = w.Button(description="reset to the patient", icon="undo")
        self._patient = {c: s.value for c, s in self.sliders.items()}
        self.reset.on_click(lambda _: self._reset())
        self.curve_image = w.Image(format="png")
        self.bars_image = w.Image(format="png")
        self.stats = w.HTML()
        self.viewer = None
        self.attribution = None
        if attribution is not None and model.has_image and volume is not None:
            from medwb.widgets.case_viewer import CaseViewer

            self.attribution = medwb.explain(model, volume, attribution, target=Risk(clinical))
            self.viewer = CaseViewer(volume, self.attribution, mask=mask, title="risk attribution (red raises the hazard)")
        super().__init__([
            self.stats,
            w.HBox([self.curve_image, self.bars_image], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([w.VBox(list(self.sliders.values())), self.reset]),
            *([self.viewer] if self.viewer is not None else []),
        ])
        self.add_class("medwb-patient-prognosis")
        self.update()

    def _reset(self) -> None:
        for c, v in self._patient.items():
            self.sliders[c].value = v

    def values(self) -> pd.DataFrame:
        """The covariates as the sliders set them (coded columns)."""
        return pd.DataFrame([{c: s.value for c, s in self.sliders.items()}])

    def update(self) -> None:
        """Recompute the curve and the contributions for the slider values and redraw both."""
        import matplotlib.pyplot as plt
        import torch

        from medwb.survival.deep import explain_clinical

        m = self.model
        net = m.net
        if net.clinical is not None:
            with torch.no_grad():
                g = float(net.clinical(m.clinical_tensor(self.values()))[0, 0])
                g0 = float(net.clinical(m.clinical_tensor(None))[0, 0])
            shift = g - g0
        else:
            shift = 0.0
        self.curve = m.band(self.eta_median + shift, self.samples + shift, self.times)
        fig, ax = plt.subplots(figsize=(4.6, 3.2))
        ax.fill_between(self.curve["time"], self.curve["lower"], self.curve["upper"], step="post", alpha=0.25,
                        label="band (MC dropout × baseline bootstrap)")
        ax.step(self.curve["time"], self.curve["survival"], where="post", label="this patient")
        ax.step(self.reference["time"], self.reference["survival"], where="post", ls="--", c="grey",
                label="same image, median covariates")
        ax.axvline(self.horizon, c="k", lw=0.6)
        ax.set(xlabel="days", ylabel="S(t)", ylim=(0, 1.02), title="predicted survival")
        ax.legend(fontsize=7, loc="lower left")
        self.curve_image.value = _png(fig)
        self.contributions = explain_clinical(m, None, self.values()) if net.clinical is not None else None
        fig, ax = plt.subplots(figsize=(3.6, 3.2))
        if self.contributions is not None:
            a = self.contributions["attribution"]
            ax.barh([str(i) for i in a.index], a.to_numpy(), color=np.where(a.to_numpy() > 0, "#c0392b", "#2e86c1"))
            ax.axvline(0, c="k", lw=0.6)
        ax.set(xlabel="contribution to log hazard", title="vs the cohort's medians")
        self.bars_image.value = _png(fig)
        s_h = float(np.interp(self.horizon, self.curve["time"], self.curve["survival"]))
        self.stats.value = (f"<span class='medwb-prognosis-stats'>log hazard {self.eta_median + shift:+.3f} · "
                            f"S({self.horizon:.0f} days) = {s_h:.2f}</span>")
