"""Numpy frames for the viewers: windowing, colormapped attribution overlays, mask contours, PNG.

Pure numpy (plus Pillow for PNG and matplotlib for colormap tables, both imported when first used),
so every frame the widgets show can be made and checked without a browser. A 256x256 plane with an
overlay and contours takes about a millisecond or two.

Example:
    >>> import numpy as np
    >>> gray = window_uint8(np.array([[-1000, 40, 3000]]), center=40, width=80)
    >>> gray.tolist()
    [[0, 127, 255]]
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np

from medwb.demo.truth import LABEL_LESION, LABEL_OEDEMA
from medwb.viz import display_scale, outline
from medwb.volume import apply_window

__all__ = [
    "LABEL_COLORS",
    "SEGMENTATION_COLOR",
    "colormap_lut",
    "window_uint8",
    "gray_rgba",
    "blend_overlay",
    "draw_contours",
    "robust_scale",
    "encode_png",
]

#: ground-truth label -> RGB outline colour (medwb.demo's coding: lesion red, oedema yellow; 3 green)
LABEL_COLORS: dict[int, tuple[int, int, int]] = {LABEL_LESION: (255, 59, 48), LABEL_OEDEMA: (255, 214, 10),
                                                 3: (52, 199, 89)}
#: outline colour of a predicted segmentation (any non-zero label)
SEGMENTATION_COLOR: tuple[int, int, int] = (0, 199, 255)


@lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 table for a matplotlib colormap name (e.g. "hot", "inferno", "Blues")."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; use a matplotlib name such as 'hot', 'inferno', "
                         "'viridis', 'Reds', 'Blues', 'cool'") from None
    lut = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def window_uint8(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map raw intensities (HU for CT) to 0..255 with a window level (center) and width
    (medwb.volume.apply_window, the one windowing, times 255)."""
    out = apply_window(values, (center, width))
    out *= np.float32(255.0)
    return out.astype(np.uint8)


def gray_rgba(gray: np.ndarray) -> np.ndarray:
    """An opaque (h, w, 4) RGBA image from a uint8 gray image."""
    h, w = gray.shape
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = gray[..., None]
    rgba[..., 3] = 255
    return rgba


def blend_overlay(rgba: np.ndarray, values: np.ndarray, *, scale: float, threshold: float = 0.1,
                  opacity: float = 0.5, cmap: str = "hot", cmap_negative: str | None = "Blues",
                  signed: bool = False) -> np.ndarray:
    """Blend a map (attribution, probability...) onto ``rgba`` in place and return it.

    Values are divided by ``scale``; voxels with ``|v| / scale < threshold`` stay uncovered. Signed
    maps colour positive values with ``cmap`` and negative ones with ``cmap_negative``; unsigned maps
    show only positive values.
    """
    if scale <= 0 or not np.isfinite(scale):
        return rgba
    norm = np.asarray(values, dtype=np.float32) / np.float32(scale)
    op = float(np.clip(opacity, 0.0, 1.0))
    parts = [(norm, cmap)]
    if signed and cmap_negative:
        parts.append((-norm, cmap_negative))
    for v, name in parts:
        sel = v >= max(threshold, 1e-6)
        if not sel.any():
            continue
        idx = (np.clip(v[sel], 0.0, 1.0) * 255).astype(np.uint8)
        color = colormap_lut(name)[idx].astype(np.float32)
        base = rgba[..., :3][sel].astype(np.float32)
        rgba[..., :3][sel] = (base * (1.0 - op) + color * op + 0.5).astype(np.uint8)
    return rgba


def draw_contours(rgba: np.ndarray, labels: np.ndarray, colors: dict[int, tuple[int, int, int]] | None = None,
                  default: tuple[int, int, int] = SEGMENTATION_COLOR) -> np.ndarray:
    """Draw the one-pixel outline of each non-zero label of ``labels`` on ``rgba`` (in place)."""
    lab = np.asarray(labels)
    present = np.unique(lab[lab != 0]) if lab.any() else []
    for value in present:
        color = (colors or {}).get(int(value), default)
        rgba[..., :3][outline(lab == value)] = color
    return rgba


#: the overlay's full colour: medwb.viz.display_scale (one display scale for every viewer and figure)
robust_scale = display_scale


def encode_png(rgba: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """PNG bytes of an RGBA (or RGB) image, resized (nearest) to ``size`` = (width, height) if given."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgba))
    if size is not None and size != img.size:
        img = img.resize(size, Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
