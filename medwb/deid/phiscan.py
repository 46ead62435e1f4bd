"""Look for protected health information left in DICOM files, executed notebooks and text outputs.

scan_phi() searches every string value of every DICOM element (private tags and nested sequences
included) and every cell source and output of a notebook (text, HTML, JSON, streams, errors) for known
identifying values — the originals held by a PseudonymMap, or those collected from the source data with
identifiers_from_dicom() — (numbers and coded strings excepted: a patient id '512' is no leak in Rows),
and reports direct identifiers the Basic Profile removes that are still
filled in, private attributes, and DICOM-style person names (FAMILY^GIVEN) in notebook output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from medwb.deid.profile import DUMMY
from medwb.deid.pseudonyms import PseudonymMap
from medwb.deid.text import identifying_values, needle

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


_NOT_TEXT_VRS = {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS", "AT", "CS", "OF", "OD", "OL", "OV"}
_DUMMIES = {v for v in DUMMY.values() if v}


def identifiers_from_dicom(source: str | Path | Iterable[str | Path],
                           kinds: Iterable[str] = ("names", "ids", "dates", "contacts"),
                           name_parts: bool = True) -> list[str]:
    """Identifying values found in DICOM files: person names (and, with ``name_parts``, each family /
    given name of 3+ letters), patient IDs, accession numbers, birth dates (also as written in text,
    e.g. 1961-04-17), addresses and phone numbers (``kinds`` picks among "names", "ids", "dates",
    "contacts" and "institution"; nested sequences included).

    Collect them from the original data before de-identification, then scan the outputs for them.
    """
    import pydicom

    kinds = list(kinds)
    vals: set[str] = set()
    identifying_values(pydicom.Dataset(), kinds)  # checks the kinds once, even without files
    for p in _files(source):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM: nothing to collect
            continue
        vals |= identifying_values(ds, kinds, name_parts=name_parts)
    return sorted(vals)


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
        out.append((v, needle(v)))
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
            dummy = str(elem.value) in _DUMMIES  # what de-identification wrote: no identity
            if elem.keyword in DIRECT_IDENTIFIERS and elem.value not in (None, "", b"") and not dummy:
                rows.append({"path": str(path), "where": here, "kind": "direct identifier",
                             "value": _excerpt(elem.value)})
            elif elem.VR == "PN" and elem.value and str(elem.value) != pseudonym and not dummy:
                rows.append({"path": str(path), "where": here, "kind": "person name", "value": _excerpt(elem.value)})
            if (elem.VR in ("OB", "OW", "UN") and not elem.tag.is_private) or elem.VR in _NOT_TEXT_VRS:
                continue  # pixels and numbers (a patient id '512' is no leak in Rows), coded strings
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
        >>> from medwb.export.series import write_series
        >>> ct = medwb.Volume.from_geometry(np.zeros((2, 4, 4), np.int16), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct", patient_name="DOE^JANE", patient_id="MRN-77")
        >>> _ = (tmp_path / "notes.txt").write_text("follow-up for MRN-77 next week")
        >>> hits = scan_phi(tmp_path, identifiers=["MRN-77"])   # e.g. a PseudonymMap of the source data
        >>> hits[["where", "kind", "value"]].drop_duplicates().values.tolist()
        [['PatientName', 'person name', 'DOE^JANE'], ['PatientID', 'identifying value', 'MRN-77'],
         ['text', 'identifying value', 'MRN-77']]
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
