"""AttributionExplorer: run several attribution methods on one case and compare them side by side.

Choose methods and their parameters, press Run: the maps are computed in a background thread
(widgets.background) with a progress bar and a Cancel button, then shown next to each other on one
shared plane and slice, with evaluation figures per method: localisation (attribution mass in the
ground-truth mask, enrichment over chance, pointing game), deletion / insertion AUC and, on request,
the cascading model-randomisation sanity check (similarity to the map of a randomised model: low is
good). All computation is medwb.explain's; this module only drives and shows it.
"""

from __future__ import annotations

import base64
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

import medwb
from medwb.demo.truth import lesion_table, truth_facts
from medwb.masks import lesions_from_mask
from medwb.viz import PLANES, display_scale, display_signed, lesion_center_index, plane_pixel_mm, plane_slice
from medwb.volume import window_center_width
from medwb.widgets import render
from medwb.widgets.background import BackgroundTask
from medwb.widgets.case_viewer import as_array
from medwb.widgets.safe_html import error_html, frame_html, text
from medwb.widgets.teaching import TeachingToggle, truth_html

__all__ = ["AttributionExplorer"]

#: figures that compare a map with the ground-truth mask (shown in teaching mode only)
_TRUTH_FIGURES = ("mass in mask", "enrichment", "pointing hit")
_LABELS = {"integrated_gradients": "Integrated Gradients", "saliency": "Saliency", "smoothgrad": "SmoothGrad",
           "gradcam": "Grad-CAM", "occlusion": "Occlusion"}


class AttributionExplorer(w.VBox):
    """Compare attribution methods on one case.

    Args:
        model: a torch model taking (N, 1, D, H, W).
        volume: the case (a medwb Volume).
        mask: ground-truth lesion mask on the volume grid (enables localisation figures). It is
            ground truth: its outlines and the localisation figures are shown in teaching mode only.
        preprocess: the model's preprocessing (medwb.models.Preprocess), passed to medwb.attribution.
        methods: methods ticked at start (any of medwb.attribution.METHODS).
        target: "predicted", a class index, or anything medwb.explain accepts.
        window: display window preset for the image under the maps.
        truth: per-lesion ground truth shown in teaching mode (DataFrame, list of dicts, or
            ``cohort.ground_truth["cases"][case_id]``); default: measured from ``mask``.
        teaching: show the ground truth (None follows ``medwb.widgets.set_teaching``); the
            "Show ground truth" button (``explorer.teaching``) flips it without recomputing.

    Call ``run()`` (or press Run) to compute; ``results`` then maps method -> Attribution and
    ``figures`` is a DataFrame of the evaluation figures.

    Example:
        >>> import torch
        >>> from medwb.models import Preprocess, TeachingNet3D
        >>> from medwb.models.synthetic import synthetic_case
        >>> ct, lesion = synthetic_case(1, seed=0, shape=(24, 32, 32))
        >>> _ = torch.manual_seed(0)
        >>> net, pp = TeachingNet3D(width=4).eval(), Preprocess(window=(60.0, 200.0), shape=(24, 32, 32))
        >>> ex = AttributionExplorer(net, ct, mask=lesion, preprocess=pp, methods=["saliency", "gradcam"])
        >>> _ = ex.run(wait=True)
        >>> sorted(ex.results), ex.status.value, len(ex.panels.children)    # one panel per method
        (['gradcam', 'saliency'], 'done', 2)
        >>> ex.figures["method"].tolist(), "mass in mask" in ex.shown_figures()  # truth: teaching mode only
        (['Saliency', 'Grad-CAM'], False)
    """

    def __init__(self, model: Any, volume: medwb.Volume, *, mask: Any = None, preprocess: Any = None,
                 methods: tuple[str, ...] = ("gradcam", "saliency"), target: Any = "predicted",
                 window: str = "brain", panel_size: int = 220, truth: Any = None,
                 teaching: bool | None = None) -> None:
        from medwb.attribution import METHODS

        self.model, self.volume, self.preprocess, self.target = model, volume, preprocess, target
        self.mask = as_array(mask, volume.shape, "mask")
        self.truth = lesion_table(truth)
        self._facts = truth_facts(truth)
        if self.truth is None and self.mask is not None:
            self.truth = lesions_from_mask(self.mask, volume.spacing)
        self.teaching = TeachingToggle(teaching)
        self.teaching.layout.display = None if self.mask is not None or self.truth is not None else "none"
        self.truth_box = w.HTML()
        self.window_cw = window_center_width(window)
        self.panel_size = panel_size
        self.results: dict[str, Any] = {}
        self.figures = pd.DataFrame()
        self.task: BackgroundTask | None = None
        unknown = set(methods) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
        self.method_boxes = {m: w.Checkbox(value=m in methods, description=_LABELS.get(m, m), indent=False,
                                           layout=w.Layout(width="170px")) for m in METHODS}
        self.n_steps = w.IntSlider(value=16, min=4, max=64, step=4, description="IG steps")
        self.n_samples = w.IntSlider(value=8, min=2, max=32, description="SG samples")
        self.occ_window = w.IntSlider(value=16, min=4, max=32, step=4, description="occl. window")
        self.baseline = w.Dropdown(options=["zeros", "air", "blurred"], value="zeros", description="baseline",
                                   layout=w.Layout(width="200px"))
        self.do_localisation = w.Checkbox(value=self.mask is not None, disabled=self.mask is None,
                                          description="localisation", indent=False)
        self.do_deletion = w.Checkbox(value=True, description="deletion / insertion AUC", indent=False)
        self.do_sanity = w.Checkbox(value=False, description="sanity check (slow)", indent=False)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="300px"))
        self.status = w.HTML()
        self.plane = w.ToggleButtons(options=list(PLANES), value="axial", style={"button_width": "80px"})
        center = lesion_center_index(self.mask) if self.mask is not None and self.mask.any() \
            else tuple(s // 2 for s in volume.shape)
        self._center = list(center)
        self.slice = w.IntSlider(value=center[0], min=0, max=volume.shape[0] - 1, description="slice")
        self.panels = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.table = w.HTML()
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.plane.observe(self._on_plane, names="value")
        self.slice.observe(lambda _: self._draw(), names="value")
        self.teaching.observe(lambda _: self._on_teaching(), names="value")
        super().__init__([
            w.HBox(list(self.method_boxes.values()), layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.n_steps, self.n_samples, self.occ_window, self.baseline],
                   layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.do_localisation, self.do_deletion, self.do_sanity]),
            w.HBox([self.run_button, self.cancel_button, self.progress, self.status]),
            w.HBox([self.plane, self.slice, self.teaching]),
            self.panels,
            self.table,
            self.truth_box,
        ])
        self.add_class("medwb-attribution-explorer")
        self._show_truth()

    # -- running --------------------------------------------------------------------------
    def chosen(self) -> list[str]:
        return [m for m, box in self.method_boxes.items() if box.value]

    def _params(self, method: str) -> dict[str, Any]:
        p: dict[str, Any] = {"preprocess": self.preprocess, "target": self.target}
        if method == "integrated_gradients":
            p.update(n_steps=self.n_steps.value, baseline=self.baseline.value)
        elif method == "smoothgrad":
            p.update(n_samples=self.n_samples.value)
        elif method == "occlusion":
            p.update(window=self.occ_window.value, baseline=self.baseline.value)
        return p

    def run(self, wait: bool = False) -> BackgroundTask:
        """Compute the chosen methods (and figures) in the background; ``wait=True`` blocks until done."""
        methods = self.chosen()
        if not methods:
            self.status.value = error_html("tick at least one method")
            raise ValueError("no method chosen: tick at least one of " + ", ".join(self.method_boxes))
        if self.task is not None and self.task.running:
            raise RuntimeError("a run is in progress: wait for it or press Cancel first")
        steps = len(methods) * (1 + self.do_localisation.value + self.do_deletion.value + self.do_sanity.value)
        self.progress.max, self.progress.value, self.progress.bar_style = steps, 0, ""
        self.results, self.figures = {}, pd.DataFrame()
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.task = BackgroundTask(lambda task: self._work(task, methods), self._done, self._failed).start()
        if wait:
            self.task.join()
        return self.task

    def cancel(self) -> None:
        """Stop after the step that is running (its result is dropped)."""
        if self.task is not None:
            self.task.cancel()
            self.status.value = "cancelling after the current step…"

    def _step(self, task: BackgroundTask, message: str) -> None:
        if task.cancelled:
            raise _Cancelled
        self.status.value = text(message)

    def _work(self, task: BackgroundTask, methods: list[str]) -> str:
        from medwb import attribution as ex

        rows = []
        try:
            for m in methods:
                self._step(task, f"{_LABELS.get(m, m)}: computing the map…")
                attr = ex.explain(self.model, self.volume, method=m, **self._params(m))
                if task.cancelled:
                    raise _Cancelled
                self.results[m] = attr
                self.progress.value += 1
                self._draw()
                row: dict[str, Any] = {"method": _LABELS.get(m, m)}
                if attr.relative_delta is not None:
                    row["IG completeness error"] = attr.relative_delta
                if self.do_localisation.value and self.mask is not None:
                    self._step(task, f"{_LABELS.get(m, m)}: localisation…")
                    loc = ex.localisation(attr, self.mask)
                    row.update({"mass in mask": loc["mass_in_mask"], "enrichment": loc["enrichment"],
                                "pointing hit": bool(loc["pointing_hit"])})
                    self.progress.value += 1
                if self.do_deletion.value:
                    self._step(task, f"{_LABELS.get(m, m)}: deletion / insertion curves…")
                    curves = ex.deletion_insertion(self.model, attr)
                    aucs = curves.groupby("curve")["auc"].first()
                    row.update({"deletion AUC (low good)": float(aucs.get("deletion", np.nan)),
                                "insertion AUC (high good)": float(aucs.get("insertion", np.nan))})
                    self.progress.value += 1
                if self.do_sanity.value:
                    self._step(task, f"{_LABELS.get(m, m)}: randomisation sanity check…")
                    params = {k: v for k, v in self._params(m).items() if k != "target"}
                    df = ex.randomisation_check(self.model, self.volume, m, self.target, progress=False, **params)
                    last = df.iloc[-1]
                    row.update({"randomised-model Spearman |r| (low good)": float(last["spearman_abs"]),
                                "randomised-model SSIM (low good)": float(last["ssim"])})
                    self.progress.value += 1
                rows.append(row)
                self.figures = pd.DataFrame(rows)
                self._table()
        except _Cancelled:
            return "cancelled"
        return "done"

    def _done(self, result: str) -> None:
        self.run_button.disabled, self.cancel_button.disabled = False, True
        self.progress.bar_style = "success" if result == "done" else "warning"
        self.status.value = ("done" if result == "done" else
                             f"cancelled: {len(self.results)} of the methods finished")

    def _failed(self, message: str) -> None:
        self.run_button.disabled, self.cancel_button.disabled = False, True
        self.progress.bar_style = "danger"
        self.status.value = error_html(f"failed: {message}")

    # -- display --------------------------------------------------------------------------
    def _on_plane(self, change: dict) -> None:
        axis = PLANES[change["new"]]
        with self.slice.hold_trait_notifications():
            self.slice.max = self.volume.shape[axis] - 1
            self.slice.value = self._center[axis]
        self._draw()

    def panel_frame(self, method: str) -> np.ndarray:
        """RGBA of ``method``'s map over the image at the shared plane and slice."""
        plane, idx = self.plane.value, self.slice.value
        c, wd = self.window_cw
        rgba = render.gray_rgba(render.window_uint8(plane_slice(self.volume.array, plane, idx), c, wd))
        arr = np.asarray(self.results[method].array)
        scale = display_scale(arr)  # the scale and sign rule of every viewer (medwb.viz)
        render.blend_overlay(rgba, plane_slice(arr, plane, idx), scale=scale,
                             threshold=0.1, opacity=0.55, signed=display_signed(arr, scale))
        if self.mask is not None and self.teaching.value:
            render.draw_contours(rgba, plane_slice(self.mask, plane, idx), render.LABEL_COLORS)
        return rgba

    def _draw(self) -> None:
        my, mx = plane_pixel_mm(self.volume.spacing, self.plane.value)
        boxes = []
        for m in list(self.results):
            f = self.panel_frame(m)
            k = self.panel_size / max(f.shape[0] * my, f.shape[1] * mx)
            png = render.encode_png(f, (max(1, round(f.shape[1] * mx * k)), max(1, round(f.shape[0] * my * k))))
            boxes.append(w.VBox([w.HTML(f"<b>{text(_LABELS.get(m, m))}</b>"), w.Image(value=png, format="png")]))
        self.panels.children = boxes

    def shown_figures(self) -> pd.DataFrame:
        """The figures the table shows: localisation against the true mask only in teaching mode."""
        if self.teaching.value:
            return self.figures
        return self.figures.drop(columns=[c for c in _TRUTH_FIGURES if c in self.figures.columns])

    def _show_truth(self) -> None:
        on = bool(self.teaching.value and self.truth is not None)
        self.truth_box.value = truth_html(self.truth, self._facts) if on else ""
        self.truth_box.layout.display = None if on else "none"

    def _on_teaching(self) -> None:
        self._show_truth()
        self._draw()
        self._table()

    def _table(self) -> None:
        if self.figures.empty:
            self.table.value = ""
            return
        self.table.value = frame_html(self.shown_figures(), index=False, float_format=lambda v: f"{v:.3g}",
                                      classes="medwb-figures", border=0)

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self.results:
            frames = [self.panel_frame(m) for m in self.results]
            h = max(f.shape[0] for f in frames)
            strip = np.concatenate([np.pad(f, ((0, h - f.shape[0]), (0, 4), (0, 0))) for f in frames], axis=1)
            data["image/png"] = base64.b64encode(render.encode_png(strip)).decode()
        data["text/plain"] = f"AttributionExplorer({', '.join(self.results) or 'not run yet'})"
        return bundle


class _Cancelled(Exception):
    """Raised between steps when the user pressed Cancel."""
