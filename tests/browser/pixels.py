"""Pixel statistics of canvases and images in the page (for 'something visible rendered')."""

from __future__ import annotations

from typing import Any

__all__ = ["canvas_stats", "image_stats"]

_STATS = """(el) => {
  let c = el;
  if (el.tagName !== 'CANVAS') {
    c = document.createElement('canvas');
    c.width = el.naturalWidth || el.width; c.height = el.naturalHeight || el.height;
    c.getContext('2d').drawImage(el, 0, 0);
  }
  const ctx = c.getContext('2d', { willReadFrequently: true });
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let s = 0, s2 = 0, h = 0;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i] + d[i + 1] + d[i + 2];
    s += v; s2 += v * v; h = (Math.imul(h, 31) + v + i) | 0;
  }
  const n = Math.max(1, d.length / 4);
  return { mean: s / n / 3, std: Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)) / 3, hash: h,
           width: c.width, height: c.height };
}"""


def canvas_stats(locator: Any) -> dict:
    """mean/std (0..255 gray), a hash and the size of a 2D canvas or an <img> element."""
    return locator.evaluate(_STATS)


image_stats = canvas_stats
