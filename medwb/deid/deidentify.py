"""Apply the PS3.15 Basic Application Level Confidentiality Profile, with options, to DICOM data.

Deidentifier.dataset() returns a de-identified copy of a pydicom Dataset; .file() and .folder() work on
disk (the output tree is named by pseudonym and new UIDs only). Pixel data are never touched; objects
flagged BurnedInAnnotation YES are refused unless allowed, since the profile then demands pixel cleaning.

Options (PS3.15 E.3), with their CID 7050 codes recorded in DeidentificationMethodCodeSequence:
retain longitudinal temporal information with modified dates (113107: dates shifted per patient, times
kept), UIDs replaced consistently (the Basic Profile's U action through the PseudonymMap key; or kept
with the Retain UIDs option, 113110), clean descriptors (113105), retain patient characteristics
(113108), retain device identity (113109), retain institution identity (113112).
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydicom.multival import MultiValue

from medwb.deid.profile import (
    ACTIONS,
    DATE_VRS,
    DESCRIPTORS,
    DEVICE_IDENTITY,
    INSTITUTION_IDENTITY,
    PATIENT_CHARACTERISTICS,
)
from medwb.deid.pseudonyms import PseudonymMap

__all__ = ["Deidentifier", "BurnedInAnnotationError"]

_KEEP_UID_PREFIX = "1.2.840.10008."  # UIDs defined by DICOM itself (SOP classes, transfer syntaxes)
_NOT_INSTANCE_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
                      "MediaStorageSOPClassUID", "CodingSchemeUID", "MappingResourceUID", "ContextUID",
                      "ReferencedSOPClassUIDInFile", "ReferencedTransferSyntaxUIDInFile", "RelatedGeneralSOPClassUID",
                      "OriginalSpecializedSOPClassUID", "SOPClassesInStudy", "PrivateRecordUID"}
_DUMMY = {"PN": "ANONYMOUS", "DA": "19000101", "DT": "19000101000000", "TM": "000000", "AS": "000Y",
          "SH": "ANONYMIZED", "LO": "ANONYMIZED", "ST": "ANONYMIZED", "LT": "ANONYMIZED", "UT": "ANONYMIZED",
          "CS": "ANONYMIZED", "AE": "ANONYMIZED", "UC": "ANONYMIZED", "UR": "", "IS": "0", "DS": "0"}
_METHOD_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "keep_uids": ("113110", "Retain UIDs Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}


class BurnedInAnnotationError(ValueError):
    """The image says it has identifying text burned into its pixels; header cleaning cannot fix that."""


def _shift_date(value: str, days: int, vr: str) -> str:
    v = str(value).strip()
    if not v:
        return v
    try:
        day = _dt.datetime.strptime(v[:8], "%Y%m%d") + _dt.timedelta(days=days)
    except ValueError:
        return _DUMMY[vr]  # not a date we can shift: replace it
    return day.strftime("%Y%m%d") + (v[8:] if vr == "DT" else "")


class Deidentifier:
    """De-identify datasets consistently across a cohort.

    Args:
        mapping: the PseudonymMap (or its JSON path) holding pseudonyms, date shifts and the UID key.
        retain_dates: shift dates by a per-patient offset instead of removing them (longitudinal studies).
        uids: "map" (consistent replacement, the default) or "keep" (Retain UIDs option).
        clean_descriptors: keep study/series descriptions, protocol names and comments, with any
            identifying value of the patient replaced by "***", rather than removing them.
        retain_patient_characteristics: keep sex, age, size, weight, smoking status...
        retain_device_identity, retain_institution_identity: the matching PS3.15 options.
        keep_private: keep private attributes (off: the profile removes them).
        burned_in: "raise" (default) or "allow" for images flagged BurnedInAnnotation YES.

    Example:
        >>> deid = Deidentifier(PseudonymMap(prefix="SUBJ"))
        >>> import pydicom; ds = pydicom.Dataset(); ds.PatientName = "DOE^JANE"; ds.PatientID = "MRN-1"
        >>> ds.StudyDate = "20240310"; ds.StudyInstanceUID = "1.2.3.4"
        >>> out = deid.dataset(ds)
        >>> str(out.PatientName), out.PatientID, out.StudyInstanceUID == "1.2.3.4"
        ('SUBJ-0001', 'SUBJ-0001', False)
    """

    def __init__(self, mapping: PseudonymMap | str | Path | None = None, *, retain_dates: bool = True,
                 uids: Literal["map", "keep"] = "map", clean_descriptors: bool = True,
                 retain_patient_characteristics: bool = False, retain_device_identity: bool = False,
                 retain_institution_identity: bool = False, keep_private: bool = False,
                 burned_in: Literal["raise", "allow"] = "raise") -> None:
        if uids not in ("map", "keep"):
            raise ValueError(f"uids must be 'map' or 'keep', got {uids!r}")
        self.mapping = mapping if isinstance(mapping, PseudonymMap) else PseudonymMap(mapping)
        self.retain_dates = retain_dates
        self.uids = uids
        self.clean_descriptors = clean_descriptors
        self.keep_private = keep_private
        self.burned_in = burned_in
        self.options = {"retain_dates": retain_dates, "keep_uids": uids == "keep",
                        "clean_descriptors": clean_descriptors,
                        "retain_patient_characteristics": retain_patient_characteristics,
                        "retain_device_identity": retain_device_identity,
                        "retain_institution_identity": retain_institution_identity}
        self._retained: set[str] = set()
        if retain_patient_characteristics:
            self._retained |= PATIENT_CHARACTERISTICS
        if retain_device_identity:
            self._retained |= DEVICE_IDENTITY
        if retain_institution_identity:
            self._retained |= INSTITUTION_IDENTITY

    def __repr__(self) -> str:
        on = [k for k, v in self.options.items() if v]
        return f"Deidentifier({self.mapping!r}, options={on})"

    # -- one dataset ----------------------------------------------------------------------
    def dataset(self, ds: Any) -> Any:
        """A de-identified deep copy of ``ds`` (a pydicom Dataset); ``ds`` itself is not changed."""
        import pydicom

        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES" and self.burned_in == "raise":
            raise BurnedInAnnotationError(
                f"instance {ds.get('SOPInstanceUID', '?')} has BurnedInAnnotation YES: identifying text may be "
                "in the pixels, which header de-identification leaves untouched.\nFix: mask the text first, "
                "then pass burned_in='allow' (or leave this instance out).")
        out = copy.deepcopy(ds)
        pid = str(ds.get("PatientID", "") or "")
        name = str(ds.get("PatientName", "") or "")
        key = pid or name or "UNKNOWN"
        pseudonym = self.mapping.pseudonym(key, name or None)
        shift = self.mapping.date_shift(key)
        secrets = self._identifying_values(ds)
        self._walk(out, shift, secrets)
        out.PatientID = pseudonym
        out.PatientName = pseudonym
        out.PatientIdentityRemoved = "YES"
        out.LongitudinalTemporalInformationModified = "MODIFIED" if self.retain_dates else "REMOVED"
        if "PatientBirthDate" in out:
            out.PatientBirthDate = ""
        used = ["basic"] + [k for k, v in self.options.items() if v]
        out.DeidentificationMethod = ("medwb: PS3.15 Basic Profile" + "".join(
            f"; {_METHOD_CODES[k][1]}" for k in used[1:]))[:64]
        codes = []
        for k in used:
            item = pydicom.Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = _METHOD_CODES[k][0], "DCM", \
                _METHOD_CODES[k][1]
            codes.append(item)
        out.DeidentificationMethodCodeSequence = pydicom.Sequence(codes)
        meta = getattr(out, "file_meta", None)
        if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in out:
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        return out

    def _identifying_values(self, ds: Any) -> list[str]:
        """Values of this patient that must not survive in cleaned free text."""
        vals: set[str] = set()
        for kw in ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "MedicalRecordLocator",
                   "PatientAddress", "PatientTelephoneNumbers", "StudyID"):
            v = ds.get(kw)
            if v:
                vals.update(str(x) for x in (v if isinstance(v, (list, tuple, MultiValue)) else [v]))

        def names(d: Any) -> None:
            for elem in d:
                if elem.VR == "PN" and elem.value:
                    for pn in (elem.value if elem.VM > 1 else [elem.value]):
                        vals.add(str(pn))
                        vals.update(p for p in re.split(r"[\^= ,]+", str(pn)) if len(p) >= 3)
                elif elem.VR == "SQ":
                    for item in elem.value:
                        names(item)

        names(ds)
        return sorted((v for v in vals if len(v.strip()) >= 3), key=len, reverse=True)

    def _map_uid(self, value: Any) -> Any:
        if self.uids == "keep":
            return value

        def one(u: str) -> str:
            u = str(u)
            return u if not u or u.startswith(_KEEP_UID_PREFIX) else self.mapping.uid(u)

        if isinstance(value, (list, tuple, MultiValue)):
            return [one(u) for u in value]
        return one(value)

    def _clean_text(self, text: str, secrets: list[str]) -> str:
        for s in secrets:
            text = re.sub(re.escape(s), "***", text, flags=re.IGNORECASE)
        return text

    def _walk(self, ds: Any, shift: int, secrets: list[str]) -> None:
        for elem in list(ds):
            tag = elem.tag
            if tag.is_private:
                if not self.keep_private:
                    del ds[tag]
                continue
            group = tag.group
            if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and tag.element in (0x3000, 0x4000)):
                del ds[tag]  # curves, overlay data and comments
                continue
            kw = elem.keyword
            vr = elem.VR
            action = ACTIONS.get(kw)
            if kw in self._retained:
                action = None
            if kw == "ContentSequence" or (vr == "SQ" and action == "U"):
                action = None  # clean inside (SR content, references) rather than replace
            if action in ("X", "Z", "D") and self.clean_descriptors and kw in DESCRIPTORS and vr != "SQ":
                action = "C"
            if action in ("X", "Z", "D") and self.retain_dates and vr in DATE_VRS and kw != "PatientBirthDate":
                action = "S"
            if action is None and vr == "SQ":
                for item in elem.value:
                    self._walk(item, shift, secrets)
            elif action is None and vr == "PN":
                elem.value = ""  # safety net: a person's name anywhere
            elif action is None and vr == "UI" and kw not in _NOT_INSTANCE_UIDS and kw.endswith("UID"):
                elem.value = self._map_uid(elem.value)
            elif action is None:
                continue
            elif action == "X":
                del ds[tag]
            elif action == "Z":
                elem.value = [] if vr == "SQ" else ""
            elif action == "U":
                elem.value = self._map_uid(elem.value) if vr == "UI" else ""
            elif action == "S":
                if vr == "TM":
                    continue
                vals = elem.value if elem.VM > 1 else [elem.value]
                shifted = [_shift_date(str(v), shift, vr) for v in vals]
                elem.value = shifted if elem.VM > 1 else shifted[0]
            elif action == "C":
                cleaned = self._clean_text(str(elem.value), secrets)
                elem.value = cleaned
            elif action == "D":
                if vr == "SQ":
                    elem.value = []
                elif vr == "UI":
                    elem.value = self._map_uid(elem.value)
                else:
                    elem.value = _DUMMY.get(vr, "")

    # -- files ----------------------------------------------------------------------------
    def file(self, source: str | Path, destination: str | Path) -> Path:
        """De-identify one DICOM file into ``destination`` (a file path)."""
        import pydicom

        ds = self.dataset(pydicom.dcmread(source))
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(destination, enforce_file_format=True)
        return destination

    def folder(self, source: str | Path, destination: str | Path, *, progress: bool = True) -> Any:
        """De-identify every DICOM file under ``source`` into ``destination``/pseudonym/study/series/sop.dcm.

        Returns a table (source, destination, pseudonym); the PseudonymMap is saved (outside
        ``destination``: writing it inside is refused).
        """
        import pandas as pd
        import pydicom
        from pydicom.errors import InvalidDicomError
        from tqdm.auto import tqdm

        destination = Path(destination).resolve()
        if self.mapping.path is not None and destination in self.mapping.path.resolve().parents:
            raise ValueError(f"the pseudonym map {self.mapping.path} lies inside the output folder {destination}: "
                             "it holds the original identities.\nFix: keep it elsewhere, e.g. "
                             "~/.config/medwb/deid/<project>.json.")
        files = sorted(p for p in Path(source).rglob("*") if p.is_file() and not p.name.startswith("."))
        rows = []
        for path in tqdm(files, desc="de-identify", disable=not progress, leave=False):
            try:
                ds = pydicom.dcmread(path)
            except (InvalidDicomError, OSError):
                continue
            out = self.dataset(ds)
            target = destination / str(out.PatientID) / str(out.get("StudyInstanceUID", "study")) / str(
                out.get("SeriesInstanceUID", "series")) / f"{out.get('SOPInstanceUID', path.stem)}.dcm"
            target.parent.mkdir(parents=True, exist_ok=True)
            out.save_as(target, enforce_file_format=True)
            rows.append({"source": str(path), "destination": str(target), "pseudonym": str(out.PatientID)})
        if self.mapping.path is not None:
            self.mapping.save()
        return pd.DataFrame(rows, columns=["source", "destination", "pseudonym"])

    def datasets(self, items: Iterable[Any]) -> list[Any]:
        """De-identify several datasets (e.g. results before STOW-RS export)."""
        return [self.dataset(d) for d in items]
