"""Look for protected health information left in DICOM files, executed notebooks and text outputs.

scan_phi() searches every string value of every DICOM element (private tags and nested sequences
included) and every cell source and output of a notebook (text, HTML, JSON, streams, errors) for known
identifying values — the originals held by a PseudonymMap, or those collected from the source data with
identifiers_from_dicom() — and reports direct identifiers the Basic Profile removes that are still
filled in, private attributes, and DICOM-style person names (FAMILY^GIVEN) in notebook output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from medwb.deid.pseudonyms import PseudonymMap

__all__ = ["scan_phi", "identifiers_from_dicom", "DIRECT_IDENTIFIERS"]

#: Attributes that name or locate a person; a de-identified object has them absent or empty.
DIRECT_IDENTIFIERS = frozenset({
    "PatientBirthDate", "PatientBirthTime", "PatientAddress", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientBirthName", "PatientMotherBirthName", "MedicalRecordLocator", "ReferringPhysicianName",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician",
    "InstitutionAddress", "PersonName", "PersonAddress", "PersonTelephoneNumbers", "ResponsiblePerson",
    "IssuerOfPatientID", "AdmissionID", "ServiceEpisodeID", "AccessionNumber",
})
_COLUMNS = ["path", "where", "kind", "value"]
_PN = re.compile(r"\b[A-Z][A-Za-z'\-]{1,40}\^[A-Z][A-Za-z'\-]{1,40}\b")
_TEXT_SUFFIXES = {".csv", ".json", ".txt", ".html", ".md", ".tsv", ".log", ".py"}


_KINDS = {
    "names": (),
    "ids": ("PatientID", "OtherPatientIDs", "AccessionNumber", "MedicalRecordLocator"),
    "dates": ("PatientBirthDate",),
    "contacts": ("PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation"),
}


def identifiers_from_dicom(source: str | Path | Iterable[str | Path],
                           kinds: Iterable[str] = ("names", "ids", "dates", "contacts"),
                           name_parts: bool = True) -> list[str]:
    """Identifying values found in DICOM files: person names (and, with ``name_parts``, each family /
    given name of 3+ letters), patient IDs, birth dates, addresses and phone numbers (``kinds`` picks
    among "names", "ids", "dates", "contacts").

    Collect them from the original data before de-identification, then scan the outputs for them.
    """
    import pydicom

    kinds = set(kinds)
    unknown = kinds - set(_KINDS)
    if unknown:
        raise ValueError(f"unknown identifier kinds {sorted(unknown)}; use some of {sorted(_KINDS)}")
    keywords = [kw for k in kinds for kw in _KINDS[k]]
    vals: set[str] = set()
    for p in _files(source):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM: nothing to collect
            continue
        for kw in keywords:
            v = ds.get(kw)
            if v:
                vals.update(str(x) for x in (v if not isinstance(v, str) and hasattr(v, "__len__") else [v]))
        if "names" not in kinds:
            continue
        for elem in ds.iterall():
            if elem.VR == "PN" and elem.value:
                for pn in (elem.value if elem.VM > 1 else [elem.value]):
                    vals.add(str(pn))
                    if name_parts:
                        vals.update(part for part in re.split(r"[\^= ,]+", str(pn)) if len(part) >= 3)
    return sorted(v for v in vals if len(v.strip()) >= 3)


def _files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [source] if isinstance(source, (str, Path)) else list(source)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and ".ipynb_checkpoints" not in f.parts))
        elif p.is_file():
            out.append(p)
    return out


def _needles(identifiers: Iterable[str] | PseudonymMap | None) -> list[tuple[str, re.Pattern[str]]]:
    if identifiers is None:
        return []
    vals = identifiers.originals() if isinstance(identifiers, PseudonymMap) else list(identifiers)
    out = []
    for v in sorted({str(v).strip() for v in vals if v is not None and len(str(v).strip()) >= 3}, key=len,
                    reverse=True):
        out.append((v, re.compile(r"(?<![A-Za-z0-9])" + re.escape(v) + r"(?![A-Za-z0-9])", re.IGNORECASE)))
    return out


def _hits(text: str, needles: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    return [v for v, rx in needles if rx.search(text)]


def _scan_dicom(path: Path, needles: list[tuple[str, re.Pattern[str]]], rows: list[dict[str, Any]]) -> bool:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not a DICOM file
        return False
    pseudonym = str(ds.get("PatientID", ""))

    def walk(d: Any, where: str) -> None:
        for elem in d:
            here = f"{where}{elem.keyword or str(elem.tag)}"
            if elem.tag.is_private:
                rows.append({"path": str(path), "where": here, "kind": "private attribute",
                             "value": _excerpt(elem.value)})
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value):
                    walk(item, f"{here}[{i}].")
                continue
            if elem.keyword in DIRECT_IDENTIFIERS and elem.value not in (None, "", b""):
                rows.append({"path": str(path), "where": here, "kind": "direct identifier",
                             "value": _excerpt(elem.value)})
            elif elem.VR == "PN" and elem.value and str(elem.value) != pseudonym:
                rows.append({"path": str(path), "where": here, "kind": "person name", "value": _excerpt(elem.value)})
            if elem.VR in ("OB", "OW", "OF", "OD", "UN") and not elem.tag.is_private:
                continue
            text = str(elem.value) if not isinstance(elem.value, bytes) else elem.value.decode("latin-1", "replace")
            for hit in _hits(text, needles):
                rows.append({"path": str(path), "where": here, "kind": "identifying value", "value": hit})

    walk(ds.file_meta if hasattr(ds, "file_meta") else [], "file_meta.")
    walk(ds, "")
    return True


def _excerpt(value: Any) -> str:
    s = value.decode("latin-1", "replace") if isinstance(value, bytes) else str(value)
    return s[:60]


def _notebook_texts(nb: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for i, cell in enumerate(nb.get("cells", [])):
        src = cell.get("source", "")
        yield f"cell {i} source", "".join(src) if isinstance(src, list) else str(src)
        for j, out in enumerate(cell.get("outputs", []) or []):
            where = f"cell {i} output {j}"
            if "text" in out:
                t = out["text"]
                yield where, "".join(t) if isinstance(t, list) else str(t)
            for mime, data in (out.get("data") or {}).items():
                if mime.startswith("image/") and not mime.endswith("svg+xml"):
                    continue  # pixels: a PHI scan of text cannot judge them
                yield f"{where} {mime}", "".join(data) if isinstance(data, list) else json.dumps(data) \
                    if not isinstance(data, str) else data
            if "traceback" in out:
                yield f"{where} traceback", "\n".join(out["traceback"])


def scan_phi(paths: str | Path | Iterable[str | Path],
             identifiers: Iterable[str] | PseudonymMap | None = None) -> pd.DataFrame:
    """Scan DICOM files, notebooks (.ipynb) and text files for PHI; one row per finding.

    Args:
        paths: files and/or folders (searched recursively).
        identifiers: values to look for: a PseudonymMap (its originals), identifiers_from_dicom(...)
            of the source data, or any list of names / IDs / dates.

    Returns:
        DataFrame (path, where, kind, value); empty when nothing was found. ``kind`` is one of
        "identifying value", "direct identifier", "person name", "private attribute", "person name pattern".

    Example:
        >>> hits = scan_phi(["out/dicom", "notebooks"], identifiers=pseudonym_map)   # doctest: +SKIP
        >>> assert hits.empty, hits
    """
    needles = _needles(identifiers)
    rows: list[dict[str, Any]] = []
    for path in _files(paths):
        if path.suffix == ".ipynb":
            try:
                nb = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            for where, text in _notebook_texts(nb):
                for hit in _hits(text, needles):
                    rows.append({"path": str(path), "where": where, "kind": "identifying value", "value": hit})
                for m in _PN.findall(text) if "output" in where else []:
                    rows.append({"path": str(path), "where": where, "kind": "person name pattern", "value": m})
            continue
        if _scan_dicom(path, needles, rows):
            continue
        if path.suffix.lower() in _TEXT_SUFFIXES:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            for hit in _hits(text, needles):
                rows.append({"path": str(path), "where": "text", "kind": "identifying value", "value": hit})
    return pd.DataFrame(rows, columns=_COLUMNS).drop_duplicates().reset_index(drop=True)
