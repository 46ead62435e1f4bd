"""Runs last (file name): after every widget was shown and poked, the console holds no errors."""

from __future__ import annotations


def test_page_logged_no_console_errors_or_failed_requests(widget_page):
    assert widget_page.errors == [], "\n".join(widget_page.errors)
    widget_page.screenshot("widget_notebook_full", None)
