"""CaseViewer in a real JupyterLab page: planes render, keys/sliders/clicks change what is shown."""

from __future__ import annotations

import pytest
from labdriver import wait_for_views
from pixels import canvas_stats


@pytest.fixture(scope="module")
def viewer(widget_page):
    loc = wait_for_views(widget_page.page, ".medwb-case-viewer .medwb-ortho[data-ready='1']")
    widget_page.page.wait_for_function(
        "() => [...document.querySelectorAll('.medwb-ortho canvas')].every(c => c.width > 1)")
    return widget_page, loc.first


def _wait_rendered(nb, loc, plane, index):
    nb.page.wait_for_function(
        "([el, p, i]) => el.dataset.rendered && JSON.parse(el.dataset.rendered)[p] === i",
        arg=[loc.element_handle(), plane, index], timeout=15_000)


def _plane(viewer, name):
    return viewer[1].locator(f"canvas.medwb-ortho-{name}")


def test_three_planes_render_visible_pixels(viewer):
    nb, loc = viewer
    for plane in ("axial", "coronal", "sagittal"):
        stats = canvas_stats(_plane(viewer, plane))
        assert stats["width"] > 50 and stats["height"] > 50, (plane, stats)
        assert stats["std"] > 5, f"{plane} canvas looks blank: {stats}"
    nb.screenshot("case_viewer", nb.page.locator(".medwb-case-viewer").first)


def test_arrow_keys_scroll_the_axial_plane(viewer):
    nb, loc = viewer
    axial = _plane(viewer, "axial")
    before = canvas_stats(axial)["hash"]
    axial.hover()
    loc.focus()
    for _ in range(6):
        nb.page.keyboard.press("ArrowUp")
    # fast presses may be merged into fewer messages; wait for the frame of the last one
    _wait_rendered(nb, loc, "axial", 30)
    assert canvas_stats(axial)["hash"] != before
    # the slider follows once the kernel has seen the key presses (opened on slice 24)
    nb.page.wait_for_function(
        "() => [...document.querySelectorAll('.medwb-case-viewer .widget-slider')].find("
        "s => s.innerText.includes('axial')).querySelector('.widget-readout').textContent.trim() === '30'",
        timeout=15_000)


def test_moving_a_slider_changes_the_coronal_plane(viewer):
    nb, loc = viewer
    coronal = _plane(viewer, "coronal")
    before = canvas_stats(coronal)["hash"]
    handle = nb.page.locator(".medwb-case-viewer .widget-slider", has_text="coronal").first.locator(
        ".noUi-handle")
    handle.focus()
    for _ in range(10):
        nb.page.keyboard.press("ArrowRight")
    _wait_rendered(nb, loc, "coronal", 58)
    assert canvas_stats(coronal)["hash"] != before


def test_clicking_a_plane_moves_the_crosshair_and_reads_out_the_voxel(viewer):
    nb, loc = viewer
    readout = nb.page.locator(".medwb-case-viewer .medwb-readout").first
    axial = _plane(viewer, "axial")
    box = axial.bounding_box()
    axial.click(position={"x": box["width"] * 0.255, "y": box["height"] * 0.755})
    try:
        nb.page.wait_for_function(
            "() => document.querySelector('.medwb-case-viewer .medwb-readout').textContent"
            ".includes('voxel (30, 72, 24)')", timeout=5000)
    except Exception:
        raise AssertionError(f"readout after the click: {readout.inner_text()!r}") from None
    text = readout.inner_text()
    assert "HU" in text and "attribution" in text and "LPS" in text


def test_show_ground_truth_draws_the_true_outline(viewer):
    nb, loc = viewer
    axial = _plane(viewer, "axial")
    axial.hover()
    loc.focus()
    for _ in range(6):  # back to slice 24, through the middle of the true lesion
        nb.page.keyboard.press("ArrowDown")
    _wait_rendered(nb, loc, "axial", 24)
    red = ("(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
           " for (let i = 0; i < d.length; i += 4) n += d[i] === 255 && d[i + 1] === 59 && d[i + 2] === 48;"
           " return n; }")
    before = axial.evaluate(red)
    toggle = nb.page.locator(".medwb-case-viewer .medwb-teaching-toggle").first
    toggle.click()  # teaching mode on: the red ground-truth outline appears
    nb.page.wait_for_function(f"(c) => ({red})(c) > {before + 20}", arg=axial.element_handle(), timeout=15_000)
    toggle.click()  # and off again: the outline goes
    nb.page.wait_for_function(f"(c) => ({red})(c) <= {before}", arg=axial.element_handle(), timeout=15_000)
