"""CohortBrowser in the page: no names, header click sorts, a row click opens that case."""

from __future__ import annotations

from labdriver import wait_for_views
from pixels import canvas_stats


def _first_case(page):
    return page.locator(".medwb-cohort-browser tbody tr").first.get_attribute("data-case-id")


def test_table_shows_cases_without_names(widget_page):
    table = wait_for_views(widget_page.page, ".medwb-cohort-browser .medwb-case-table").first
    widget_page.page.wait_for_function(
        "() => document.querySelectorAll('.medwb-cohort-browser tbody tr').length === 6")
    text = table.inner_text()
    assert "case-3" in text and "prediction" in text and "risk" in text
    assert "DOE" not in text and "name" not in text.lower()


def test_clicking_a_header_sorts_the_rows(widget_page):
    page = widget_page.page
    assert _first_case(page) == "case-0"
    page.locator(".medwb-cohort-browser th[data-column='risk']").click()  # ascending risk
    page.wait_for_function(
        "() => document.querySelector('.medwb-cohort-browser tbody tr').dataset.caseId === 'case-5'")
    page.locator(".medwb-cohort-browser th[data-column='risk']").click()  # descending
    page.wait_for_function(
        "() => document.querySelector('.medwb-cohort-browser tbody tr').dataset.caseId === 'case-0'")


def test_clicking_a_row_opens_that_case(widget_page):
    page = widget_page.page
    page.locator(".medwb-cohort-browser tr[data-case-id='case-4']").click()
    page.wait_for_function(
        "() => { const t = document.querySelector('.medwb-cohort-browser .medwb-case-viewer');"
        " return t && t.innerText.includes('case-4'); }", timeout=30_000)
    viewer = page.locator(".medwb-cohort-browser .medwb-case-viewer").first
    page.wait_for_function(
        "() => { const c = document.querySelector('.medwb-cohort-browser canvas.medwb-ortho-axial');"
        " return c && c.width > 1; }")
    axial = viewer.locator("canvas.medwb-ortho-axial")
    first = canvas_stats(axial)
    assert first["std"] > 5
    assert "age 60" in viewer.inner_text()
    page.locator(".medwb-cohort-browser tr[data-case-id='case-1']").click()
    page.wait_for_function(
        "() => document.querySelector('.medwb-cohort-browser .medwb-case-viewer').innerText"
        ".includes('case-1')", timeout=30_000)
    for _ in range(40):  # the new case's frames follow the title by a message or two
        if canvas_stats(axial)["hash"] != first["hash"]:
            break
        page.wait_for_timeout(250)
    assert canvas_stats(axial)["hash"] != first["hash"]
    widget_page.screenshot("cohort_browser", page.locator(".medwb-cohort-browser").first)
