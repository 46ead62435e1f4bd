"""Data is text, never markup: the one place where widgets turn values into HTML.

Anything that came from a file, a PACS, a table or an error message (a PatientID, a case id, a
clinical value, a column name, a series description, a method name) goes through ``text()`` before
it is put into an ``ipywidgets.HTML`` value, and DataFrames become HTML only through ``frame_html()``.
Markup the widgets write themselves (``<b>``, ``<span style=...>``) stays markup; nothing else does.
The JavaScript widgets (CaseTable, OrthoCanvas) set ``textContent``, never ``innerHTML``, for data.

Example:
    >>> text('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> error_html("failed: <script>")
    "<span class='medwb-error' style='color:#b00020'>failed: &lt;script&gt;</span>"
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

__all__ = ["text", "frame_html", "error_html"]


def text(value: Any) -> str:
    """``str(value)`` as HTML text: ``& < > " '`` escaped, so it shows as written and runs nothing."""
    return html.escape(str(value), quote=True)


def error_html(message: Any) -> str:
    """The first line of ``message`` as escaped red text (for a widget's status line)."""
    lines = str(message).splitlines()
    return f"<span class='medwb-error' style='color:#b00020'>{text(lines[0] if lines else '')}</span>"


def frame_html(frame: pd.DataFrame, **kwargs: Any) -> str:
    """``frame`` as an HTML table whose cells, column names and index are escaped text.

    Takes DataFrame.to_html's keyword arguments except ``escape`` (always True).

    Example:
        >>> "&lt;b&gt;" in frame_html(pd.DataFrame({"<b>": ["<i>x</i>"]}), index=False)
        True
    """
    if kwargs.pop("escape", True) is not True:
        raise ValueError("frame_html always escapes (escape=False would let data become markup).\n"
                         "Fix: leave escape out; write any markup of your own around the table.")
    return frame.to_html(escape=True, **kwargs)
