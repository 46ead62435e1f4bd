"""Viewer3D: multiplanar and 3D rendering of a Volume with an attribution overlay.

The default backend is ipyniivue (NiiVue in WebGL2; its JavaScript ships in the wheel, so it renders
offline). Volumes travel as NIfTI bytes made by medwb.io.nifti (RAS on the wire, as NIfTI wants);
the overlay is quantised to int16 with a scale factor and gzipped, so a 256^3 map costs a few MB,
not 64.

itkwidgets is a backend on explicit request only (``backend="itk"``): it is not installed by default
(``pip install 'medwb[itk-viewer]'``), and version 1.0a55 fetches its viewer from a CDN/IPFS gateway
when it is shown. Offline that shows nothing and holds up the next cell, so Viewer3D first checks
that the viewer's host can be reached (a few seconds at most) and otherwise says so and shows the
ipyniivue view instead: it never hangs the notebook.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

import ipywidgets as w
import numpy as np

import medwb
from medwb.io.nifti import volume_to_nifti
from medwb.viz import display_scale, display_signed
from medwb.volume import window_center_width
from medwb.widgets.case_viewer import as_array
from medwb.widgets.safe_html import text
from medwb.widgets.teaching import TeachingToggle

__all__ = ["Viewer3D", "nifti_bytes", "ITK_INSTALL", "ItkAssetsUnavailable"]

ITK_INSTALL = "pip install 'medwb[itk-viewer]'  (itkwidgets[lab]==1.0a55 with ngff-zarr<0.33)"
_VIEWS = {"multiplanar + 3D": 3, "3D render": 4, "axial": 0, "coronal": 1, "sagittal": 2}
_NV_CMAPS = ["warm", "hot", "red", "plasma", "viridis", "inferno"]
_NV_NEG = ["winter", "cool", "blue", "electric_blue"]


class ItkAssetsUnavailable(RuntimeError):
    """itkwidgets is installed but its viewer (fetched from the web at display time) cannot load."""


def nifti_bytes(volume: medwb.Volume, *, quantize: bool = False, compress: bool = True) -> bytes:
    """A Volume as NIfTI-1 bytes for a browser viewer (gzipped when ``compress``).

    With ``quantize``, float data is stored as int16 with a scale factor (``scl_slope``): 1/32767 of
    the largest absolute value, far below what a colormap can show.

    Example:
        >>> import numpy as np, medwb
        >>> v = medwb.Volume.from_geometry(np.ones((2, 3, 4), np.float32))
        >>> nifti_bytes(v, quantize=True)[:2] == b"\\x1f\\x8b"  # gzip magic
        True
    """
    import gzip

    arr = volume.array
    slope = None
    if quantize and arr.dtype.kind == "f":
        peak = float(np.nanmax(np.abs(arr))) if arr.size else 0.0
        slope = peak / 32767.0 if peak > 0 else 1.0
        arr = np.round(np.nan_to_num(arr) / slope).astype(np.int16)
        volume = volume.with_array(arr)
    img = volume_to_nifti(volume)
    if slope is not None:
        img.header.set_slope_inter(slope, 0.0)
    raw = img.to_bytes()
    return gzip.compress(raw, compresslevel=1) if compress else raw


def _reachable(url: str, timeout: float) -> bool:
    parts = urlparse(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _itk_viewer_url() -> str:
    try:
        from itkwidgets.viewer_config import ITK_VIEWER_SRC  # type: ignore[import-not-found]

        return str(ITK_VIEWER_SRC)
    except Exception:  # noqa: BLE001 - any layout change in an alpha package: use its known host
        return "https://cdn.jsdelivr.net/"


_MASK_OPACITY = 0.35


class Viewer3D(w.VBox):
    """A Volume in NiiVue (three planes plus a 3D render), with an attribution overlay.

    Args:
        volume: the image (HU for CT).
        attribution: optional map on the same grid (a medwb Attribution, Volume or numpy array);
            negative values get a second colormap.
        mask: optional ground-truth labels on the same grid, shown as a translucent red layer in
            teaching mode (``teaching``; None follows ``medwb.widgets.set_teaching``; the "Show ground
            truth" button ``viewer.teaching`` flips it).
        window: preset name or (center, width) for the image.
        backend: "niivue" (default, offline) or "itk" (itkwidgets; needs the itk-viewer extra and
            network access to its viewer assets).
        height: pixels.
        reach_timeout: seconds to wait for itkwidgets' asset host before giving up (backend "itk").
        max_voxels: larger volumes are shown subsampled by a whole stride (256^3 -> 128^3): ipyniivue
            sends every loaded image back to the kernel, so the full grid would take most of a minute
            to appear. CaseViewer always shows full resolution.

    Example:
        >>> import numpy as np, medwb
        >>> v = medwb.Volume.from_geometry(np.zeros((8, 8, 8), np.int16), modality="CT")
        >>> Viewer3D(v).backend
        'niivue'
    """

    def __init__(self, volume: medwb.Volume, attribution: Any = None, *, mask: Any = None,
                 window: str | tuple[float, float] = "brain", backend: str = "niivue", height: int = 420,
                 reach_timeout: float = 3.0, max_voxels: int = 160**3, teaching: bool | None = None) -> None:
        if backend not in ("niivue", "itk"):
            raise ValueError(f"backend must be 'niivue' or 'itk', got {backend!r}")
        self.volume = volume
        self.attribution = as_array(attribution, volume.shape, "attribution")
        self.mask = as_array(mask, volume.shape, "mask")
        self.teaching = TeachingToggle(teaching)
        self.teaching.layout.display = None if self.mask is not None else "none"
        self.stride = max(1, int(np.ceil((np.prod(volume.shape) / max_voxels) ** (1 / 3) - 1e-9)))
        center, width = window_center_width(window)
        self.notice = w.HTML()
        self.backend = backend
        self.itk_viewer: Any = None
        super().__init__([self.notice])
        self.add_class("medwb-viewer3d")
        if backend == "itk":
            try:
                self._show_itk(reach_timeout)
                return
            except ItkAssetsUnavailable as exc:
                self.notice.value = (f"<div class='medwb-notice' style='color:#b00020'>⚠ {text(exc)}</div>")
                self.backend = "niivue"
        self._show_niivue(center, width, height)

    # -- itkwidgets -----------------------------------------------------------------------
    def _show_itk(self, reach_timeout: float) -> None:
        try:
            import itkwidgets  # type: ignore[import-not-found]  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "backend='itk' needs itkwidgets, which medwb does not install by default (its "
                "JupyterLab extension fetches scripts from a CDN on every page load).\n"
                f"Fix: {ITK_INSTALL}, restart JupyterLab; or use the default backend='niivue', "
                "which works offline."
            ) from exc
        url = _itk_viewer_url()
        if not _reachable(url, reach_timeout):
            raise ItkAssetsUnavailable(
                f"itkwidgets cannot load its viewer: it fetches it at display time from {url}, "
                f"which this machine cannot reach (offline?). Showing the ipyniivue view instead, "
                "which needs no network. Use backend='niivue' to skip this check."
            )
        out = w.Output()
        self.children = [self.notice, out]
        image = np.ascontiguousarray(self.volume.array)
        kwargs: dict[str, Any] = {"image": image}
        if self.mask is not None and self.teaching.value:  # itkwidgets cannot hide it later
            kwargs["label_image"] = np.ascontiguousarray(self.mask.astype(np.uint8))
        with out:
            self.itk_viewer = itkwidgets.view(**kwargs)

    # -- ipyniivue ------------------------------------------------------------------------
    def _grid(self, arr: np.ndarray) -> medwb.Volume:
        """``arr`` (on the volume grid) as a Volume at the display stride."""
        k = self.stride
        if k == 1:
            return self.volume.with_array(arr)
        affine = self.volume.affine.copy()
        affine[:3, :3] *= k
        return medwb.Volume(np.ascontiguousarray(arr[::k, ::k, ::k]), affine, modality=self.volume.modality)

    def _show_niivue(self, center: float, width: float, height: int) -> None:
        from ipyniivue import NiiVue, SliceType

        if self.stride > 1:
            shape = tuple(len(range(0, n, self.stride)) for n in self.volume.shape)
            self.notice.value = (f"<small class='medwb-notice'>3D view subsampled by {self.stride} "
                                 f"({'x'.join(map(str, self.volume.shape))} → {'x'.join(map(str, shape))}) "
                                 "for speed; CaseViewer shows every voxel.</small>")

        self.nv = NiiVue(height=height, slice_type=SliceType.MULTIPLANAR, back_color=(0, 0, 0, 1),
                         is_colorbar=False, show_3d_crosshair=True, multiplanar_force_render=True,
                         is_radiological_convention=True)
        self.nv.add_class("medwb-niivue")
        layers: list[dict[str, Any]] = [{
            "data": nifti_bytes(self._grid(self.volume.array)), "name": "image.nii.gz", "colormap": "gray",
            "cal_min": center - width / 2, "cal_max": center + width / 2, "opacity": 1.0,
        }]
        self.scale = 0.0
        if self.attribution is not None:
            self.scale = display_scale(self.attribution)
            att = self._grid(self.attribution.astype(np.float32))
            layer = {"data": nifti_bytes(att, quantize=True), "name": "attribution.nii.gz",
                     "colormap": "warm", "opacity": 0.6, "cal_min": 0.1 * self.scale,
                     "cal_max": self.scale or 1.0}
            if display_signed(self.attribution, self.scale):
                layer.update(colormap_negative="winter", cal_min_neg=-(self.scale or 1.0),
                             cal_max_neg=-0.1 * self.scale)
            layers.append(layer)
        if self.mask is not None:
            layers.append({"data": nifti_bytes(self._grid((self.mask > 0).astype(np.uint8))),
                           "name": "mask.nii.gz", "colormap": "red",
                           "opacity": _MASK_OPACITY if self.teaching.value else 0.0,
                           "cal_min": 0.5, "cal_max": 1.0})
            self.teaching.observe(self._on_teaching, names="value")
        self.nv.load_volumes(layers)
        self.view = w.Dropdown(options=list(_VIEWS), value="multiplanar + 3D", description="view",
                               layout=w.Layout(width="230px"))
        self.view.observe(self._on_view, names="value")
        controls: list[w.Widget] = [self.view, self.teaching]
        if self.attribution is not None:
            self.opacity = w.FloatSlider(value=0.6, min=0, max=1, step=0.05, description="opacity")
            self.threshold = w.FloatSlider(value=0.1, min=0, max=1, step=0.02, description="threshold")
            self.cmap = w.Dropdown(options=_NV_CMAPS, value="warm", description="colormap",
                                   layout=w.Layout(width="190px"))
            for c in (self.opacity, self.threshold, self.cmap):
                c.observe(self._on_overlay, names="value")
            controls += [self.cmap, self.opacity, self.threshold]
        self.children = [self.notice, w.HBox(controls, layout=w.Layout(flex_flow="row wrap")), self.nv]

    def _on_view(self, change: dict) -> None:
        from ipyniivue import SliceType

        self.nv.opts.slice_type = SliceType(_VIEWS[change["new"]])

    def _on_teaching(self, change: dict) -> None:
        self.nv.volumes[-1].opacity = _MASK_OPACITY if change["new"] else 0.0

    def _on_overlay(self, change: dict) -> None:
        layer = self.nv.volumes[1]
        layer.opacity = self.opacity.value
        layer.colormap = self.cmap.value
        layer.cal_min = self.threshold.value * self.scale
        if layer.cal_max_neg is not None:
            layer.cal_max_neg = -self.threshold.value * self.scale

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        import base64

        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        from medwb.widgets.static import ortho_png

        data["image/png"] = base64.b64encode(ortho_png(self.volume, self.attribution,
                                                       mask=self.mask if self.teaching.value else None)).decode()
        data["text/plain"] = f"Viewer3D({self.volume!r}, backend={self.backend!r})"
        return bundle
