"""Find and mask identifying text: the identifying values a dataset holds, and free-text patterns.

identifying_values() collects what must not survive anywhere else in an object (patient ids, names and
their parts, birth date in the usual written forms, addresses, phone numbers, the institution);
clean_text() masks those values and, with ``patterns``, anything that looks like a date, a phone number
or an e-mail address, with "***". Used by the Deidentifier on every text value it keeps, and by the
PHI scan to know what to look for.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["identifying_values", "clean_text", "date_variants", "needle", "MASK"]

MASK = "***"

#: keyword -> kind, for identifying_values(kinds=...)
_BY_KIND = {
    "ids": ("PatientID", "OtherPatientIDs", "AccessionNumber", "MedicalRecordLocator", "StudyID", "AdmissionID",
            "ServiceEpisodeID", "IssuerOfPatientID"),
    "dates": ("PatientBirthDate",),
    "contacts": ("PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation", "PersonAddress",
                 "PersonTelephoneNumbers", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
                 "OrderCallbackPhoneNumber", "PersonTelecomInformation"),
    "institution": ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName"),
}
KINDS = ("names", *_BY_KIND)

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_PATTERNS = [
    re.compile(r"(?<![\w.])\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?![\w.])"),  # 1961-04-17
    re.compile(r"(?<![\w.])\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})(?![\w.])"),  # 17.04.1961, 04/17/61
    re.compile(r"(?<!\w)(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\w)"),  # 19610417
    re.compile(r"(?<!\w)\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTHS + r",?\s+\d{2,4}(?!\w)", re.IGNORECASE),
    re.compile(r"(?<!\w)" + _MONTHS + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{2,4}(?!\w)", re.IGNORECASE),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # e-mail
]
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")


def date_variants(value: str) -> list[str]:
    """A DICOM date (YYYYMMDD) in the ways people write it; [] when it is not a date.

    Example:
        >>> date_variants("19610417")[:4]
        ['19610417', '1961-04-17', '1961/04/17', '1961.04.17']
    """
    try:
        day = _dt.datetime.strptime(str(value).strip()[:8], "%Y%m%d")
    except ValueError:
        return []
    forms = ["%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%m/%d/%Y",
             "%m-%d-%Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%d.%m.%y", "%m/%d/%y", "%d/%m/%y"]
    out = [day.strftime(f) for f in forms]
    out += [f"{day.day}.{day.month}.{day.year}", f"{day.day}/{day.month}/{day.year}",
            f"{day.month}/{day.day}/{day.year}"]
    return list(dict.fromkeys(out))


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if str(v)]
    return [str(value)]


def identifying_values(ds: Any, kinds: Iterable[str] = KINDS, name_parts: bool = True) -> set[str]:
    """Identifying values anywhere in ``ds`` (nested sequences included) of the given kinds.

    ``kinds``: some of "names" (every person name, and with ``name_parts`` each part of 3+ letters),
    "ids", "dates" (the birth date, in its written forms), "contacts", "institution".
    """
    kinds = set(kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"identifier kinds {sorted(unknown)} are not known. Fix: use some of {list(KINDS)}.")
    wanted = {kw: kind for kind in kinds - {"names"} for kw in _BY_KIND[kind]}
    vals: set[str] = set()
    for elem in ds.iterall():  # private attributes too: a name there is still a name
        kind = wanted.get(elem.keyword)
        if kind is not None:
            for v in _values(elem.value):
                vals.add(v)
                if kind == "dates":
                    vals.update(date_variants(v))
        if "names" in kinds and elem.VR == "PN":
            for pn in _values(elem.value):
                vals.add(pn)
                vals.add(" ".join(p for p in re.split(r"[\^=]+", pn) if p))
                if name_parts:
                    vals.update(p for p in re.split(r"[\^= ,]+", pn) if len(p) >= 3)
    return {v.strip() for v in vals if len(v.strip()) >= 3}


def needle(value: str) -> re.Pattern[str]:
    """The pattern that finds ``value`` as a whole token (not inside a longer word or number), any case."""
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", re.IGNORECASE)


def clean_text(text: str, secrets: Iterable[str], *, patterns: bool = True) -> str:
    """``text`` with each of ``secrets`` (whole tokens, any case) and, with ``patterns``, every date,
    phone number (7+ digits) and e-mail address replaced by "***".

    Example:
        >>> clean_text("Findings for Jane Doe (MRN-4471), born 1961-04-17, call +1 555 201 7788",
        ...            ["Jane Doe", "MRN-4471"])
        'Findings for *** (***), born ***, call ***'
    """
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = needle(s).sub(MASK, text)
    if patterns:
        for rx in _PATTERNS:
            text = rx.sub(MASK, text)
        text = _PHONE.sub(lambda m: MASK if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)
    return text
