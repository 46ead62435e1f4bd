"""CaseViewer: one case in three orthogonal planes, with window/level, attribution and contours.

Frames are composed in numpy (widgets.render) and drawn client-side on canvases (widgets.ortho_canvas):
a key press or slider move re-renders only the plane that changed, as raw RGBA bytes (no PNG encode),
and the crosshair is drawn in the browser. Where no widget front end runs (nbconvert HTML, GitHub),
the output is a static PNG of the three planes.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Any

import ipywidgets as w
import numpy as np

import medwb
from medwb.demo.truth import lesion_table, truth_facts
from medwb.masks import lesions_from_mask
from medwb.viz import (
    PLANES,
    display_scale,
    display_signed,
    display_threshold,
    lesion_center_index,
    plane_slice,
)
from medwb.volume import WINDOW_PRESETS, window_center_width
from medwb.widgets import render
from medwb.widgets.ortho_canvas import PLANE_AXES, OrthoCanvas
from medwb.widgets.safe_html import text
from medwb.widgets.static import compose_planes
from medwb.widgets.teaching import TeachingToggle, truth_html

__all__ = ["CaseViewer", "as_array"]

_CMAPS = ["hot", "inferno", "magma", "viridis", "jet", "Reds", "YlOrRd", "turbo"]
_NEG_CMAPS = ["Blues", "cool", "winter", "GnBu", "PuBu"]


def as_array(obj: Any, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    """The voxel array of a Volume, an Attribution (anything with ``.array``) or a numpy array,
    checked against ``shape``; None passes through."""
    if obj is None:
        return None
    arr = np.asarray(getattr(obj, "array", obj))
    if arr.shape != tuple(shape):
        raise ValueError(f"{what} has shape {arr.shape} but the volume has {tuple(shape)}.\n"
                         f"Fix: bring the {what} onto the volume grid first, e.g. "
                         "medwb.transforms.resample_like(x, volume).")
    return arr


class CaseViewer(w.VBox):
    """Axial, coronal and sagittal planes of a Volume, linked by a crosshair.

    Args:
        volume: the image (HU for CT).
        attribution: optional map on the same grid (a medwb Attribution, Volume or numpy array)
            shown as a colour overlay; maps with negative values are shown signed, two colormaps. The
            threshold starts where the voxels shown hold half of the map's mass
            (medwb.viz.display_threshold): a localised map shows a small region, a diffuse one a large one.
        mask: ground-truth labels on the same grid, drawn as outlines (1 red, 2 yellow, 3 green) in
            teaching mode only (see medwb.widgets.teaching).
        segmentation: a predicted segmentation, drawn as cyan outlines.
        window: a preset of medwb.volume.WINDOW_PRESETS or (center, width); default "brain" for CT,
            else the 1st-99th percentile of the intensities (MR, PET, maps).
        position: (slice, row, column) to open on; default the mask's centre, else the grid centre.
        size: pixels across the largest plane.
        title: a line above the planes (e.g. the case id or series description), shown as text:
            markup in it is escaped, never rendered.
        prefetch: slices sent ahead on each side of the crosshair in the active plane, so scrolling
            repaints without a kernel round trip (0 turns it off).
        truth: per-lesion ground truth shown beside the planes in teaching mode (a DataFrame, a list
            of dicts, or ``cohort.ground_truth["cases"][case_id]``); default: measured from ``mask``.
        teaching: show the ground truth (mask outlines, mask label in the readout, lesion facts);
            None follows the global switch ``medwb.widgets.set_teaching``. The "Show ground truth"
            button (``viewer.teaching``) flips it; it appears only when there is truth to show.

    Mouse: click or drag to move the crosshair (the readout shows HU, attribution and LPS mm);
    wheel scrolls the plane under the mouse. Keys (canvas focused): arrows, PageUp/PageDown,
    Home/End scroll the active plane; a / c / s choose it.

    Example:
        >>> import numpy as np, medwb
        >>> v = medwb.Volume.from_geometry(np.zeros((6, 8, 10), np.int16), spacing=(2, 1, 1))
        >>> viewer = CaseViewer(v, position=(3, 4, 5))
        >>> viewer.sliders["axial"].value, viewer.readout_values()["hu"]
        (3, 0.0)
    """

    def __init__(self, volume: medwb.Volume, attribution: Any = None, *, mask: Any = None,
                 segmentation: Any = None, window: str | tuple[float, float] | None = None,
                 position: tuple[int, int, int] | None = None, size: int = 300,
                 title: str = "", prefetch: int = 4, truth: Any = None,
                 teaching: bool | None = None) -> None:
        self.title = w.HTML()
        self.teaching = TeachingToggle(teaching)
        self.truth_box = w.HTML()
        self.canvas = OrthoCanvas()
        self.readout = w.HTML(layout=w.Layout(min_height="1.6em"))
        self.window = w.Dropdown(options=[*WINDOW_PRESETS, "custom"], description="window",
                                 layout=w.Layout(width="190px"))
        self.level = w.FloatSlider(description="level", min=-1100, max=3000, step=1,
                                   continuous_update=True, readout_format=".0f")
        self.width = w.FloatSlider(description="width", min=1, max=4000, step=1,
                                   continuous_update=True, readout_format=".0f")
        self.sliders = {p: w.IntSlider(description=p, min=0, max=1, continuous_update=True)
                        for p in PLANES}
        self.show_overlay = w.Checkbox(value=True, description="attribution", indent=False,
                                       layout=w.Layout(width="110px"))
        self.cmap = w.Dropdown(options=_CMAPS, value="hot", description="colormap",
                               layout=w.Layout(width="190px"))
        self.cmap_negative = w.Dropdown(options=_NEG_CMAPS, value="Blues", description="negative",
                                        layout=w.Layout(width="190px"))
        self.opacity = w.FloatSlider(value=0.5, min=0, max=1, step=0.05, description="opacity")
        self.threshold = w.FloatSlider(value=0.1, min=0, max=1, step=0.02, description="threshold")
        self.show_contours = w.Checkbox(value=True, description="contours", indent=False,
                                        layout=w.Layout(width="100px"))
        self.show_crosshair = w.Checkbox(value=True, description="crosshair", indent=False,
                                         layout=w.Layout(width="100px"))
        self._overlay_box = w.HBox([self.show_overlay, self.cmap, self.cmap_negative, self.opacity,
                                    self.threshold], layout=w.Layout(flex_flow="row wrap"))
        self._loading = False
        self._syncing = False
        self._size = size
        #: slices of the active plane sent ahead of need on each side of the crosshair
        self.prefetch = prefetch
        self._frames: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._sent: set[tuple[str, int]] = set()
        super().__init__([
            self.title,
            w.HBox([self.window, self.level, self.width], layout=w.Layout(flex_flow="row wrap")),
            w.HBox(list(self.sliders.values()), layout=w.Layout(flex_flow="row wrap")),
            self._overlay_box,
            w.HBox([self.show_contours, self.show_crosshair, self.teaching]),
            self.canvas,
            self.readout,
            self.truth_box,
        ])
        self.add_class("medwb-case-viewer")
        self.load(volume, attribution, mask=mask, segmentation=segmentation, position=position,
                  title=title, truth=truth)
        self.set_window(window if window is not None else self.auto_window())
        for s in self.sliders.values():
            s.observe(self._on_slider, names="value")
        self.window.observe(self._on_preset, names="value")
        for c in (self.level, self.width):
            c.observe(self._on_level, names="value")
        for c in (self.show_overlay, self.cmap, self.cmap_negative, self.opacity, self.threshold,
                  self.show_contours):
            c.observe(lambda _: self.redraw(), names="value")
        self.teaching.observe(lambda _: self._on_teaching(), names="value")
        w.link((self.show_crosshair, "value"), (self.canvas, "crosshair"))
        self.canvas.observe(self._on_position, names="position")
        self.canvas.observe(lambda _: self._prefetch(), names="active")
        self.canvas.on_msg(self._on_canvas_msg)

    # -- data -----------------------------------------------------------------------------
    def load(self, volume: medwb.Volume, attribution: Any = None, *, mask: Any = None,
             segmentation: Any = None, position: tuple[int, int, int] | None = None,
             title: str = "", truth: Any = None) -> None:
        """Show another case (or new maps) in this viewer, keeping window, overlay and teaching settings."""
        self.volume = volume
        shape = volume.shape
        self._fit_window_sliders()
        self.attribution = as_array(attribution, shape, "attribution")
        self.mask = as_array(mask, shape, "mask")
        self.segmentation = as_array(segmentation, shape, "segmentation")
        self.truth = lesion_table(truth)
        self._facts = truth_facts(truth)
        if self.truth is None and self.mask is not None:
            self.truth = lesions_from_mask(self.mask, volume.spacing)
        self.teaching.layout.display = None if self.mask is not None or self.truth is not None else "none"
        self._show_truth()
        self._scale = display_scale(self.attribution) if self.attribution is not None else 0.0
        self.signed = self.attribution is not None and display_signed(self.attribution, self._scale)
        self.cmap_negative.disabled = not self.signed
        self._overlay_box.layout.display = None if self.attribution is not None else "none"
        if position is None:
            position = lesion_center_index(self.mask) if self.mask is not None and self.mask.any() \
                else tuple(s // 2 for s in shape)
        pos = [int(np.clip(p, 0, s - 1)) for p, s in zip(position, shape)]
        sp = volume.spacing
        pixel_mm = {p: [sp[ay], sp[ax]] for p, (_, ax, ay, _) in PLANE_AXES.items()}
        extent = max(n * s for n, s in zip(shape, sp))
        self.title.value = f"<b>{text(title)}</b>" if title else ""  # data (e.g. a series description): text
        self._loading = True
        try:
            if self.attribution is not None:  # show the top half of the map's mass (medwb.viz.display_threshold)
                self.threshold.value = round(display_threshold(self.attribution, scale=self._scale), 2)
            for p, s in self.sliders.items():
                s.max = shape[PLANES[p]] - 1
                s.value = pos[PLANES[p]]
            with self.canvas.hold_sync():
                self.canvas.shape = list(shape)
                self.canvas.position = pos
                self.canvas.pixel_mm = pixel_mm
                self.canvas.px_per_mm = float(self._size) / extent
        finally:
            self._loading = False
        self.redraw()

    @property
    def position(self) -> tuple[int, int, int]:
        """The crosshair voxel (slice, row, column)."""
        return tuple(self.canvas.position)  # type: ignore[return-value]

    @position.setter
    def position(self, value: tuple[int, int, int]) -> None:
        shape = self.volume.shape
        self.canvas.position = [int(np.clip(v, 0, s - 1)) for v, s in zip(value, shape)]

    def auto_window(self) -> str | tuple[float, float]:
        """"brain" for CT; otherwise (center, width) spanning the 1st-99th percentile."""
        if self.volume.modality == "CT":
            return "brain"
        lo, hi = self._percentiles
        return ((lo + hi) / 2.0, max(hi - lo, 1e-6))

    def _fit_window_sliders(self) -> None:
        """Level/width slider ranges that suit this volume's intensities (HU or anything else)."""
        arr = self.volume.array
        sample = arr.ravel()[:: max(1, arr.size // 1_000_000)].astype(np.float64)
        lo, hi = float(np.nanmin(sample)), float(np.nanmax(sample))
        self._percentiles = tuple(float(v) for v in np.nanpercentile(sample, [1, 99]))
        if self.volume.modality == "CT":
            lo, hi = min(lo, -1100.0), max(hi, 3000.0)
        span = max(hi - lo, 1e-6)
        step = 1.0 if span > 200 else span / 1000.0
        self._loading = True
        try:
            self.level.min, self.level.max = -1e12, 1e12  # widen first so the order of updates is safe
            self.level.min, self.level.max, self.level.step = lo, hi, step
            self.width.min, self.width.max = 0.0, 1e12
            self.width.min, self.width.max, self.width.step = step, 2.0 * span, step
            fmt = ".0f" if step >= 1 else ".3g"
            self.level.readout_format = self.width.readout_format = fmt
        finally:
            self._loading = False

    def set_window(self, window: str | tuple[float, float]) -> None:
        """Choose a preset name or a (center, width) pair."""
        if isinstance(window, str) and window not in WINDOW_PRESETS:
            raise ValueError(f"unknown window {window!r}; presets: {', '.join(WINDOW_PRESETS)}, "
                             "or pass (center, width)")
        center, width = window_center_width(window)
        self._loading = True
        try:
            self.window.value = window if isinstance(window, str) else "custom"
            self.level.value, self.width.value = center, width
        finally:
            self._loading = False
        self.redraw()

    # -- rendering ------------------------------------------------------------------------
    def frame(self, plane: str, index: int | None = None) -> np.ndarray:
        """The (h, w, 4) RGBA frame of ``plane`` at ``index`` (default: the crosshair's), current settings."""
        idx = self.canvas.position[PLANES[plane]] if index is None else int(index)
        rgba = render.gray_rgba(render.window_uint8(plane_slice(self.volume.array, plane, idx),
                                                    self.level.value, self.width.value))
        if self.attribution is not None and self.show_overlay.value:
            render.blend_overlay(rgba, plane_slice(self.attribution, plane, idx), scale=self._scale,
                                 threshold=self.threshold.value, opacity=self.opacity.value,
                                 cmap=self.cmap.value, cmap_negative=self.cmap_negative.value,
                                 signed=self.signed)
        if self.show_contours.value:
            if self.segmentation is not None:
                render.draw_contours(rgba, plane_slice(self.segmentation, plane, idx))
            if self.mask is not None and self.teaching.value:
                render.draw_contours(rgba, plane_slice(self.mask, plane, idx), render.LABEL_COLORS)
        return rgba

    def _frame_bytes(self, plane: str, index: int) -> bytes:
        key = (plane, index)
        data = self._frames.get(key)
        if data is None:
            data = self.frame(plane, index).tobytes()
            self._frames[key] = data
            while len(self._frames) > 96:
                self._frames.popitem(last=False)
        else:
            self._frames.move_to_end(key)
        return data

    def redraw(self, planes: tuple[str, ...] = tuple(PLANES), *, settings_changed: bool = True) -> None:
        """Re-render ``planes`` and send them to the browser in one message, then send the active
        plane's neighbours ahead of need. ``settings_changed`` drops frames made with older settings."""
        if self._loading:
            return
        if settings_changed:
            self._frames.clear()
            self._sent.clear()
        pos = self.canvas.position
        data = {p: self._frame_bytes(p, pos[PLANES[p]]) for p in planes}
        shape = self.volume.shape
        sizes = {p: [shape[ay], shape[ax]] for p, (_, ax, ay, _) in PLANE_AXES.items()}
        with self.canvas.hold_sync():
            if settings_changed:
                self.canvas.version += 1
            self.canvas.sizes = sizes
            for p, b in data.items():
                setattr(self.canvas, p, b)
                self._sent.add((p, pos[PLANES[p]]))
            self.canvas.rendered = {**self.canvas.rendered, **{p: pos[PLANES[p]] for p in planes}}
            self.canvas.labels = {p: f"W {self.width.value:.0f} L {self.level.value:.0f}" for p in PLANES}
        self._update_readout()
        self._prefetch()

    def _prefetch(self) -> None:
        """Send the active plane's slices within ``prefetch`` of the crosshair that the page lacks."""
        if self.prefetch <= 0:
            return
        plane = self.canvas.active if self.canvas.active in PLANES else "axial"
        axis = PLANES[plane]
        here, n = self.canvas.position[axis], self.volume.shape[axis]
        order = [here + d * s for d in range(1, self.prefetch + 1) for s in (1, -1)]
        todo = [i for i in order if 0 <= i < n and (plane, i) not in self._sent]
        if not todo:
            return
        h, w = self.canvas.sizes[plane]
        self.canvas.send_frames([(plane, i, self._frame_bytes(plane, i), h, w) for i in todo])
        self._sent.update((plane, i) for i in todo)

    # -- teaching mode --------------------------------------------------------------------
    def _show_truth(self) -> None:
        on = self.teaching.value and (self.mask is not None or self.truth is not None)
        self.truth_box.value = truth_html(self.truth, self._facts) if on else ""
        self.truth_box.layout.display = None if on else "none"

    def _on_teaching(self) -> None:
        self._show_truth()
        self.redraw()

    # -- events ---------------------------------------------------------------------------
    def _on_preset(self, change: dict) -> None:
        if change["new"] in WINDOW_PRESETS:
            c, wd = window_center_width(change["new"])
            self._loading = True
            try:
                self.level.value, self.width.value = c, wd
            finally:
                self._loading = False
            self.redraw()

    def _on_level(self, change: dict) -> None:
        if self._loading:
            return
        preset = self.window.value
        if preset in WINDOW_PRESETS and WINDOW_PRESETS[preset] != (self.level.value, self.width.value):
            self._loading = True
            try:
                self.window.value = "custom"
            finally:
                self._loading = False
        self.redraw()

    def _on_slider(self, change: dict) -> None:
        if self._loading or self._syncing:
            return
        pos = list(self.canvas.position)
        for p, s in self.sliders.items():
            pos[PLANES[p]] = s.value
        self.canvas.position = pos

    def _on_position(self, change: dict) -> None:
        if self._loading:  # load() redraws everything itself
            return
        old, new = change["old"] or [None] * 3, change["new"]
        changed = tuple(p for p in PLANES if old[PLANES[p]] != new[PLANES[p]])
        if changed:  # the frame first: sliders and readout can follow
            self.redraw(changed, settings_changed=False)
        self._syncing = True
        try:
            for p, s in self.sliders.items():
                s.value = new[PLANES[p]]
        finally:
            self._syncing = False
        if not changed:
            self._update_readout()

    def _on_canvas_msg(self, _widget: object, content: dict, _buffers: list) -> None:
        if isinstance(content, dict) and content.get("type") == "ready":  # a new view: its cache is empty
            self._sent.clear()
            self._prefetch()

    # -- readout --------------------------------------------------------------------------
    def readout_values(self) -> dict[str, Any]:
        """What the readout line shows: voxel index, intensity, attribution, mask label, LPS mm."""
        idx = tuple(self.canvas.position)
        out: dict[str, Any] = {"index": idx, "hu": float(self.volume.array[idx]),
                               "world_mm": tuple(float(v) for v in self.volume.index_to_world(idx))}
        if self.attribution is not None:
            out["attribution"] = float(self.attribution[idx])
        if self.mask is not None and self.teaching.value:
            out["label"] = int(self.mask[idx])
        return out

    def _update_readout(self) -> None:
        v = self.readout_values()
        unit = "HU" if self.volume.modality == "CT" else "value"
        parts = [f"voxel ({', '.join(map(str, v['index']))})", f"{unit} {v['hu']:.0f}"]
        if "attribution" in v:
            parts.append(f"attribution {v['attribution']:.3g}")
        if "label" in v:
            parts.append(f"label {v['label']}")
        x, y, z = v["world_mm"]
        parts.append(f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm")
        self.readout.value = "<code class='medwb-readout'>" + " · ".join(parts) + "</code>"

    # -- static fallback ------------------------------------------------------------------
    def to_png(self) -> bytes:
        """The three planes side by side at millimetre aspect, as PNG bytes."""
        frames = {p: self.frame(p) for p in PLANES}
        return render.encode_png(compose_planes(frames, self.canvas.pixel_mm, self.canvas.px_per_mm))

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["image/png"] = base64.b64encode(self.to_png()).decode()
        data["text/plain"] = f"CaseViewer({self.volume!r})"
        return bundle
