"""QIDO-RS plumbing: the attributes asked for, DICOM date ranges, JSON results → pandas, paging."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

__all__ = ["date_range", "paged", "to_table", "SERIES_FIELDS", "STUDY_FIELDS", "INSTANCE_FIELDS", "NAME_FIELD"]

# (column, DICOM keyword, tag) for searches; names only when asked for.
SERIES_FIELDS = [
    ("patient_id", "PatientID", "00100020"), ("study_uid", "StudyInstanceUID", "0020000D"),
    ("series_uid", "SeriesInstanceUID", "0020000E"), ("modality", "Modality", "00080060"),
    ("study_date", "StudyDate", "00080020"), ("series_number", "SeriesNumber", "00200011"),
    ("series_description", "SeriesDescription", "0008103E"),
    ("study_description", "StudyDescription", "00081030"), ("body_part", "BodyPartExamined", "00180015"),
    ("n_instances", "NumberOfSeriesRelatedInstances", "00201209"),
]
STUDY_FIELDS = [
    ("patient_id", "PatientID", "00100020"), ("study_uid", "StudyInstanceUID", "0020000D"),
    ("study_date", "StudyDate", "00080020"), ("accession", "AccessionNumber", "00080050"),
    ("study_description", "StudyDescription", "00081030"), ("modalities", "ModalitiesInStudy", "00080061"),
    ("n_series", "NumberOfStudyRelatedSeries", "00201206"),
    ("n_instances", "NumberOfStudyRelatedInstances", "00201208"),
]
NAME_FIELD = ("patient_name", "PatientName", "00100010")
INSTANCE_FIELDS = [
    ("sop_uid", "SOPInstanceUID", "00080018"), ("sop_class", "SOPClassUID", "00080016"),
    ("instance_number", "InstanceNumber", "00200013"),
]


def _date(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (_dt.date, _dt.datetime, pd.Timestamp)):
        return value.strftime("%Y%m%d")
    s = str(value).replace("-", "")
    if not (len(s) == 8 and s.isdigit()):
        raise ValueError(f"date {value!r} is not a date.\nFix: use 'YYYYMMDD', 'YYYY-MM-DD' or a datetime.date.")
    return s


def date_range(date: Any) -> str:
    """A DICOM date matching string: one day, or (start, end) with None for an open end."""
    if isinstance(date, (tuple, list)):
        if len(date) != 2:
            raise ValueError(f"a date range is (start, end), got {date!r}")
        return f"{_date(date[0])}-{_date(date[1])}"
    if isinstance(date, str) and date.count("-") == 1 and len(date.replace("-", "")) in (8, 16):
        return date  # already "YYYYMMDD-YYYYMMDD" (or open-ended)
    return _date(date)


def _value(item: Mapping[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value")
    if not values:
        return None
    v = values[0] if len(values) == 1 else values
    if isinstance(v, dict):  # PersonName
        return v.get("Alphabetic")
    return v


def to_table(items: list[dict[str, Any]], fields: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = [{col: _value(it, tag) for col, _, tag in fields} for it in items]
    df = pd.DataFrame(rows, columns=[c for c, _, _ in fields])
    for col in ("n_instances", "n_series", "series_number", "instance_number"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


def paged(fetch: Callable[[int], list[dict[str, Any]]], limit: int | None = None) -> list[dict[str, Any]]:
    """All results of a QIDO search. Servers may cut a result list short at their page size; a page
    whose length is a multiple of 50 (typical page sizes) is followed by one more request at its end."""
    items = list(fetch(0))
    page = len(items)
    while limit is None and page and page % 50 == 0:
        more = list(fetch(len(items)))
        page = len(more)
        items.extend(more)
    return items[:limit] if limit is not None else items


