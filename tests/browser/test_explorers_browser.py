"""SurvivalExplorer, TrainingMonitor and AttributionExplorer render their figures in the page."""

from __future__ import annotations

import pytest
from labdriver import wait_for_views
from pixels import image_stats


@pytest.mark.parametrize("widget, images", [
    ("medwb-survival-explorer", 2),      # KM curves and forest plot
    ("medwb-training-monitor", 1),       # loss / metric curves
    ("medwb-attribution-explorer", 2),   # one panel per method
])
def test_explorer_figures_are_drawn(widget_page, widget, images):
    page = widget_page.page
    wait_for_views(page, f".{widget}")
    page.wait_for_function(
        "([sel, n]) => [...document.querySelectorAll(sel + ' img')].filter(i => i.complete && i.naturalWidth > 50)"
        ".length >= n", arg=[f".{widget}", images], timeout=30_000)
    for img in page.locator(f".{widget} img").all()[:images]:
        stats = image_stats(img)
        assert stats["std"] > 5, f"{widget} figure looks blank: {stats}"
    widget_page.screenshot(widget.replace("medwb-", ""), page.locator(f".{widget}").first)


def test_moving_the_survival_cut_point_redraws_the_curves(widget_page):
    page = widget_page.page
    img = page.locator(".medwb-survival-explorer img").first
    before = image_stats(img)["hash"]
    handle = page.locator(".medwb-survival-explorer .widget-slider", has_text="cut").locator(".noUi-handle")
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    for _ in range(60):
        if image_stats(page.locator(".medwb-survival-explorer img").first)["hash"] != before:
            break
        page.wait_for_timeout(250)
    assert image_stats(page.locator(".medwb-survival-explorer img").first)["hash"] != before
