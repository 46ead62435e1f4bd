"""Static pictures of a case (three planes through one point) for places with no widget front end.

nbconvert HTML, GitHub's notebook preview and a README have no kernel: the widgets put this PNG in
their output next to the live view so such places show the case rather than a blank cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import medwb
from medwb.viz import PLANES, display_scale, display_signed, lesion_center_index, plane_pixel_mm, plane_slice
from medwb.volume import window_center_width
from medwb.widgets import render

__all__ = ["compose_planes", "ortho_png"]


def compose_planes(frames: dict[str, np.ndarray], pixel_mm: dict[str, tuple[float, float]],
                   px_per_mm: float, gap: int = 4) -> np.ndarray:
    """Place RGBA frames side by side, each resized (nearest) to its millimetre aspect."""
    from PIL import Image

    tiles = []
    for plane, f in frames.items():
        my, mx = pixel_mm[plane]
        size = (max(1, round(f.shape[1] * mx * px_per_mm)), max(1, round(f.shape[0] * my * px_per_mm)))
        tiles.append(Image.fromarray(np.ascontiguousarray(f)).resize(size, Image.NEAREST))
    out = Image.new("RGBA", (sum(t.width for t in tiles) + gap * (len(tiles) - 1),
                             max(t.height for t in tiles)), (0, 0, 0, 255))
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + gap
    return np.asarray(out)


def ortho_png(volume: medwb.Volume, attribution: Any = None, *, mask: Any = None,
              window: str | tuple[float, float] = "brain", position: tuple[int, int, int] | None = None,
              size: int = 300) -> bytes:
    """PNG of the axial, coronal and sagittal planes through ``position`` (default: the mask's
    centre, else the grid centre), with the attribution overlay and mask outlines.

    Example:
        >>> import numpy as np, medwb
        >>> v = medwb.Volume.from_geometry(np.zeros((4, 6, 8), np.int16), modality="CT")
        >>> ortho_png(v)[:4] == b"\\x89PNG"
        True
    """
    arr = volume.array
    att = None if attribution is None else np.asarray(getattr(attribution, "array", attribution))
    lab = None if mask is None else np.asarray(getattr(mask, "array", mask))
    center, width = window_center_width(window)
    if position is None:
        position = lesion_center_index(lab) if lab is not None and lab.any() else \
            tuple(s // 2 for s in arr.shape)
    scale = display_scale(att) if att is not None else 0.0
    signed = att is not None and display_signed(att, scale)
    frames = {}
    for plane, axis in PLANES.items():
        idx = int(position[axis])
        rgba = render.gray_rgba(render.window_uint8(plane_slice(arr, plane, idx), center, width))
        if att is not None:
            render.blend_overlay(rgba, plane_slice(att, plane, idx), scale=scale, signed=signed)
        if lab is not None:
            render.draw_contours(rgba, plane_slice(lab, plane, idx), render.LABEL_COLORS)
        frames[plane] = rgba
    pixel_mm = {plane: plane_pixel_mm(volume.spacing, plane) for plane in PLANES}
    extent = max(n * d for n, d in zip(arr.shape, volume.spacing))
    return render.encode_png(compose_planes(frames, pixel_mm, size / extent))
