"""QIDO-RS plumbing: the attributes asked for, DICOM date ranges, JSON results → pandas, paging.

A search result is server data: to_table() checks its shape (DICOM JSON objects), that every UID is a
UID (medwb.io.dicomweb.cache.check_uid: UIDs become cache paths) and that the required ones are there.
A malformed result is left out of the table and described in ``table.attrs["problems"]``, so that one
bad series never stops a cohort; parse_json() turns an answer that is not JSON into a clear error.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from medwb.io.dicomweb.cache import check_uid
from medwb.io.dicomweb.config import DicomWebMalformedError

__all__ = ["date_range", "paged", "to_table", "parse_json", "SERIES_FIELDS", "STUDY_FIELDS", "INSTANCE_FIELDS",
           "NAME_FIELD", "PROBLEM_COLUMNS"]

#: Columns of ``table.attrs["problems"]``: the result's position, its UID as sent (or None), what is wrong.
PROBLEM_COLUMNS = ["result", "patient_id", "uid", "problem"]

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


def _shown(value: Any) -> str:
    text = repr(value)
    n = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= 80 else f"{text[:60]}...({n} characters)"


def _value(item: Mapping[str, Any], tag: str, keyword: str) -> Any:
    element = item.get(tag)
    if element is None:
        return None
    if not isinstance(element, Mapping):
        raise ValueError(f"{keyword} ({tag}) is {_shown(element)}, not a DICOM JSON element")
    values = element.get("Value")
    if not values:
        return None
    if not isinstance(values, list):
        raise ValueError(f"{keyword} ({tag}) has Value {_shown(values)}, not a list")
    v = values[0] if len(values) == 1 else values
    if isinstance(v, dict):  # PersonName
        return v.get("Alphabetic")
    return v


def _row(item: Any, fields: list[tuple[str, str, str]], required: Sequence[str]) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ValueError(f"the result is {_shown(item)}, not a JSON object")
    row = {col: _value(item, tag, keyword) for col, keyword, tag in fields}
    for col, keyword, tag in fields:
        value = row[col]
        if col.endswith("_uid") and value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{keyword} ({tag}) is {_shown(value)}, not a DICOM UID")
            try:
                row[col] = check_uid(value, keyword)
            except ValueError:
                raise ValueError(f"{keyword} ({tag}) {_shown(value)} is not a DICOM UID (digits and dots, "
                                 "at most 64 characters)") from None
        if col in required and value is None:
            raise ValueError(f"the required {keyword} ({tag}) is missing")
    return row


def to_table(items: Any, fields: list[tuple[str, str, str]], *, required: Sequence[str] = (),
             what: str = "search", strict: bool = False) -> pd.DataFrame:
    """One row per well-formed search result; the malformed ones are described in ``attrs["problems"]``
    (a DataFrame with PROBLEM_COLUMNS), or raise DicomWebMalformedError with ``strict=True``.

    Example:
        >>> good = {"0020000E": {"vr": "UI", "Value": ["1.2.3"]}}
        >>> bad = {"0020000E": {"vr": "UI", "Value": ["../../etc"]}}
        >>> table = to_table([good, bad], [("series_uid", "SeriesInstanceUID", "0020000E")])
        >>> table["series_uid"].tolist(), table.attrs["problems"]["result"].tolist()
        (['1.2.3'], [1])
    """
    if not isinstance(items, list):
        raise DicomWebMalformedError(f"{what}: the server answered {_shown(items)}, not a list of results.\n"
                                     "Fix: check that the URL is the server's DICOMweb root.")
    rows, problems = [], []
    for i, item in enumerate(items):
        try:
            rows.append(_row(item, fields, required))
        except ValueError as e:
            if strict:
                raise DicomWebMalformedError(f"{what}: result {i} of the server's answer is malformed: {e}.\n"
                                             "Fix: report it to the PACS administrator.") from None
            pid = item.get("00100020", {}) if isinstance(item, Mapping) else {}
            pid_values = pid.get("Value") if isinstance(pid, Mapping) else None
            uid = next((item.get(tag) for col, _, tag in reversed(fields) if col.endswith("_uid") and col in required),
                       None) if isinstance(item, Mapping) else None  # the most specific UID: the series', say
            uid_values = uid.get("Value") if isinstance(uid, Mapping) else None
            problems.append({"result": i,
                             "patient_id": str(pid_values[0]) if isinstance(pid_values, list) and pid_values else None,
                             "uid": str(uid_values[0])[:80] if isinstance(uid_values, list) and uid_values else None,
                             "problem": str(e)})
    df = pd.DataFrame(rows, columns=[c for c, _, _ in fields])
    for col in ("n_instances", "n_series", "series_number", "instance_number"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df.attrs["problems"] = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    return df


def parse_json(text: bytes, content_type: str, what: str, url: str) -> Any:
    """A QIDO-RS answer body as JSON, or DicomWebMalformedError saying what came instead."""
    import json

    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        start = bytes(text[:40]).decode("utf-8", "replace")
        raise DicomWebMalformedError(
            f"{what}: the answer from {url} is not valid JSON ({e}); Content-Type {content_type or 'none'!r}, "
            f"it starts {start!r}.\nFix: check that the URL is the server's DICOMweb root (e.g. "
            "http://host:8042/dicom-web), not a web page or a proxy's login page.") from None


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


