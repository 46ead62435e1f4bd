"""Viewer3D (ipyniivue) renders offline in JupyterLab: its WebGL canvas shows the volume."""

from __future__ import annotations

import io

import numpy as np
from labdriver import wait_for_views
from PIL import Image


def _shot_stats(locator):
    img = np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("L"), dtype=np.float32)
    return img.mean(), img.std(), (img > 40).mean()


def test_niivue_canvas_shows_the_volume(widget_page):
    canvas = wait_for_views(widget_page.page, ".medwb-viewer3d canvas", timeout=60).first
    widget_page.page.wait_for_function(
        "() => { const c = document.querySelector('.medwb-viewer3d canvas'); "
        "return c && c.width > 100 && c.height > 100; }", timeout=60_000)
    # NiiVue draws asynchronously after the volumes load: poll the pixels, not a fixed sleep
    for _ in range(60):
        mean, std, lit = _shot_stats(canvas)
        if std > 10 and lit > 0.02:
            break
        widget_page.page.wait_for_timeout(250)
    widget_page.screenshot("viewer3d", widget_page.page.locator(".medwb-viewer3d").first)
    assert std > 10 and lit > 0.02, f"NiiVue canvas looks blank: mean {mean:.1f}, std {std:.1f}, lit {lit:.3f}"
