"""Errors of medwb.readers: each names the bad value (and the rows) and says what to do."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ReaderStudyError", "RatingsError", "DesignError", "AnswerConflictError", "rows_text"]


class ReaderStudyError(ValueError):
    """Base class of the reader-study errors."""


class RatingsError(ReaderStudyError):
    """The ratings table cannot be analysed as it is (missing, duplicate or inconsistent rows)."""


class DesignError(ReaderStudyError):
    """A study design, or an answer given against it, is not valid."""


class AnswerConflictError(ReaderStudyError):
    """An answer that is already stored differs from the one being written or imported."""


def rows_text(rows: Sequence[object], limit: int = 10) -> str:
    """'rows 3, 17 and 42' for error messages; long lists are cut after ``limit`` with a count."""
    rows = [str(r) for r in rows]
    if len(rows) == 1:
        return f"row {rows[0]}"
    shown = ", ".join(rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"rows {shown}{more}"
