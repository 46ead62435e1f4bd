"""Apply the PS3.15 Basic Application Level Confidentiality Profile, with options, to DICOM data.

Deidentifier.dataset() returns a de-identified copy of a pydicom Dataset; .file() and .folder() work on
disk (the output tree is named by pseudonym and new UIDs only, each part through medwb.paths.safe_name;
a folder run is all or nothing, see medwb.deid.run). Pixel data are never touched; objects flagged
BurnedInAnnotation YES are refused unless allowed, since the profile then demands pixel cleaning.

What happens to each attribute, by default (no option):
- the action of PS3.15 Table E.1-1 (medwb.deid.profile.ACTIONS): removed, emptied, a dummy, or a UID
  remapped; free text such as ImageComments, AdditionalPatientHistory, Study / Series descriptions is
  removed, as the Basic Profile says;
- public attributes the table does not list are removed unless medwb.deid.keep.KEEP names them (or
  ``keep=``); kept text is cleaned (identifying values of the patient become "***"; in long texts
  also dates, phone numbers and e-mail addresses); kept UIDs other than SOP classes are remapped;
- nested sequences (SR content included) are walked with the same rules;
- SR content: TextValue becomes "ANONYMIZED" (cleaned instead with clean_descriptors=True), except
  in items that name an algorithm, its version or a tracking identifier (keep.TEXT_CONCEPTS_KEPT:
  cleaned); PersonName "ANONYMOUS", DateTime / Date / Time shifted (or dummies), UID values remapped;
- a CodeMeaning from a coding scheme outside medwb.deid.keep.TRUSTED_CODING_SCHEMES (a local code,
  which can hold free text) is replaced by its code value (cleaned instead with clean_descriptors);
- file meta: only the attributes of medwb.deid.keep.FILE_META_KEEP stay (SourceApplicationEntityTitle
  and the other AE titles go); the 128-byte preamble is zeroed;
- private attributes, curves and overlays are removed.

Options (PS3.15 E.3), with their CID 7050 codes recorded in DeidentificationMethodCodeSequence:
retain longitudinal temporal information with modified dates (113107: dates shifted per patient, times
kept; on by default), UIDs replaced consistently (the Basic Profile's U action through the PseudonymMap
key; or kept with the Retain UIDs option, 113110), clean descriptors (113105: keep descriptions and
comments with identifying values, dates, phone numbers and e-mail addresses masked; off by default since
medwb 0.2: a name only written in free text cannot be recognised), retain patient characteristics
(113108), retain device identity (113109), retain institution identity (113112).
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue

from medwb.deid.keep import CODE_STRUCTURE, FILE_META_KEEP, KEEP, TEXT_CONCEPTS_KEPT, TRUSTED_CODING_SCHEMES
from medwb.deid.profile import (
    ACTIONS,
    DATE_VRS,
    DESCRIPTORS,
    DEVICE_IDENTITY,
    DUMMY,
    INSTITUTION_IDENTITY,
    PATIENT_CHARACTERISTICS,
)
from medwb.deid.pseudonyms import PseudonymMap
from medwb.deid.text import clean_text, identifying_values

__all__ = ["Deidentifier", "BurnedInAnnotationError"]

_KEEP_UID_PREFIX = "1.2.840.10008."  # UIDs defined by DICOM itself (SOP classes, transfer syntaxes)
_NOT_INSTANCE_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
                      "MediaStorageSOPClassUID", "CodingSchemeUID", "MappingResourceUID", "ContextUID",
                      "ReferencedSOPClassUIDInFile", "ReferencedTransferSyntaxUIDInFile", "RelatedGeneralSOPClassUID",
                      "OriginalSpecializedSOPClassUID", "SOPClassesInStudy", "PrivateRecordUID"}
_LONG_TEXT = {"LT", "ST", "UT"}
_TEXT = _LONG_TEXT | {"LO", "SH", "UC"}
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


def _concept(item: Any) -> tuple[str, str]:
    """(CodeValue, CodingSchemeDesignator) of an SR content item's concept name."""
    names = item.get("ConceptNameCodeSequence") or []
    return (str(names[0].get("CodeValue", "")), str(names[0].get("CodingSchemeDesignator", ""))) if names else ("", "")


def _shift_date(value: str, days: int, vr: str) -> str:
    v = str(value).strip()
    if not v:
        return v
    try:
        day = _dt.datetime.strptime(v[:8], "%Y%m%d") + _dt.timedelta(days=days)
    except ValueError:
        return DUMMY[vr]  # not a date we can shift: replace it
    return day.strftime("%Y%m%d") + (v[8:] if vr == "DT" else "")


class Deidentifier:
    """De-identify datasets consistently across a cohort.

    Args:
        mapping: the PseudonymMap (or its JSON path) holding pseudonyms, date shifts and the UID key.
        retain_dates: shift dates by a per-patient offset instead of removing them (longitudinal studies).
        uids: "map" (consistent replacement, the default) or "keep" (Retain UIDs option).
        clean_descriptors: keep study/series descriptions, protocol names, comments and SR text, with
            identifying values of the patient, dates, phone numbers and e-mail addresses replaced by "***",
            rather than removing them. Off by default (changed: it used to be on), as free text can
            name people and places that appear nowhere else in the file.
        retain_patient_characteristics: keep sex, age, size, weight, smoking status...
        retain_device_identity, retain_institution_identity: the matching PS3.15 options.
        keep_private: keep private attributes (off: the profile removes them).
        keep: more public attribute keywords to keep (text among them is cleaned); every public attribute
            that neither the profile nor medwb.deid.keep.KEEP lists is removed.
        burned_in: "raise" (default) or "allow" for images flagged BurnedInAnnotation YES.

    Example:
        >>> deid = Deidentifier(PseudonymMap(prefix="SUBJ"))
        >>> import pydicom; ds = pydicom.Dataset(); ds.PatientName = "DOE^JANE"; ds.PatientID = "MRN-1"
        >>> ds.StudyDate = "20240310"; ds.StudyInstanceUID = "1.2.3.4"; ds.ImageComments = "DOB 1961-04-17"
        >>> out = deid.dataset(ds)
        >>> str(out.PatientName), out.PatientID, out.StudyInstanceUID == "1.2.3.4", "ImageComments" in out
        ('SUBJ-0001', 'SUBJ-0001', False, False)
    """

    def __init__(self, mapping: PseudonymMap | str | Path | None = None, *, retain_dates: bool = True,
                 uids: Literal["map", "keep"] = "map", clean_descriptors: bool = False,
                 retain_patient_characteristics: bool = False, retain_device_identity: bool = False,
                 retain_institution_identity: bool = False, keep_private: bool = False,
                 keep: Iterable[str] = (), burned_in: Literal["raise", "allow"] = "raise") -> None:
        if uids not in ("map", "keep"):
            raise ValueError(f"uids is {uids!r}. Fix: pass uids='map' (new UIDs) or uids='keep'.")
        if burned_in not in ("raise", "allow"):
            raise ValueError(f"burned_in is {burned_in!r}. Fix: pass burned_in='raise' or 'allow'.")
        self.mapping = mapping if isinstance(mapping, PseudonymMap) else PseudonymMap(mapping)
        self.retain_dates = retain_dates
        self.uids = uids
        self.clean_descriptors = clean_descriptors
        self.keep_private = keep_private
        self.burned_in = burned_in
        self.keep = frozenset(keep)
        unknown = sorted(k for k in self.keep if tag_for_keyword(k) is None)
        if unknown:
            raise ValueError(f"keep names {unknown}, which are not DICOM keywords. Fix: spell them as pydicom "
                             "does, e.g. keep=['ImageID'].")
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

    @property
    def retained(self) -> frozenset[str]:
        """Keywords that the chosen options keep although the Basic Profile acts on them."""
        return frozenset(self._retained)

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
        kinds = ["names", "ids", "dates", "contacts"] + ([] if self.options["retain_institution_identity"]
                                                         else ["institution"])
        secrets = sorted(identifying_values(ds, kinds), key=len, reverse=True)
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
        if meta is not None:
            for elem in list(meta):
                if elem.keyword not in FILE_META_KEEP:
                    del meta[elem.tag]
            if "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in out:
                meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        if getattr(out, "preamble", None):
            out.preamble = b"\0" * 128  # a dual-format file may hide a whole TIFF with its own tags there
        return out

    def _map_uid(self, value: Any) -> Any:
        if self.uids == "keep":
            return value

        def one(u: str) -> str:
            u = str(u)
            return u if not u or u.startswith(_KEEP_UID_PREFIX) else self.mapping.uid(u)

        if isinstance(value, (list, tuple, MultiValue)):
            return [one(u) for u in value]
        return one(value)

    def _action(self, kw: str, vr: str) -> str:
        """What to do with one public attribute: X Z D U (profile), S (shift), C (clean), K (keep)."""
        action = ACTIONS.get(kw)
        if kw in self._retained:
            return "K"
        if action is None:
            return "K" if kw in KEEP or kw in self.keep else "X"
        if kw == "ContentSequence" or (vr == "SQ" and action == "U"):
            return "K"  # clean inside (SR content, references) rather than replace
        if action in ("X", "Z", "D") and self.clean_descriptors and kw in DESCRIPTORS and vr != "SQ":
            return "C"
        if action in ("X", "Z", "D") and self.retain_dates and vr in DATE_VRS and kw != "PatientBirthDate":
            return "S"
        return action

    def _walk(self, ds: Any, shift: int, secrets: list[str]) -> None:
        for elem in list(ds):
            tag = elem.tag
            if tag.is_private:
                if not self.keep_private:
                    del ds[tag]
                continue
            kw, vr = elem.keyword, elem.VR
            if not kw or 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF:
                del ds[tag]  # unknown to the dictionary, curves, overlays (graphics can carry text)
                continue
            action = self._action(kw, vr)
            if action == "K":
                self._keep(ds, elem, shift, secrets)
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
                elem.value = clean_text(str(elem.value), secrets)
            elif action == "D":
                if vr == "SQ":
                    elem.value = []
                elif vr == "UI":
                    elem.value = self._map_uid(elem.value)
                else:
                    elem.value = DUMMY.get(vr, "")

    def _keep(self, ds: Any, elem: Any, shift: int, secrets: list[str]) -> None:
        """Keep one attribute the profile leaves alone: walk sequences, remap UIDs, clean text."""
        kw, vr = elem.keyword, elem.VR
        if vr == "SQ":
            for item in elem.value:
                self._walk(item, shift, secrets)
        elif vr == "PN":
            elem.value = ""  # safety net: a person's name anywhere
        elif vr == "UI" and kw not in _NOT_INSTANCE_UIDS:
            elem.value = self._map_uid(elem.value)
        elif kw == "TextValue":
            keep = self.clean_descriptors or _concept(ds) in TEXT_CONCEPTS_KEPT
            elem.value = clean_text(str(elem.value), secrets) if keep else DUMMY["UT"]
        elif kw == "CodeMeaning" and str(ds.get("CodingSchemeDesignator", "")) not in TRUSTED_CODING_SCHEMES:
            if self.clean_descriptors:
                elem.value = clean_text(str(elem.value), secrets)
            else:  # a local code's meaning is free text: say no more than its code value does
                code = next((str(ds[k].value) for k in ("CodeValue", "LongCodeValue", "URNCodeValue")
                             if k in ds and ds[k].value), DUMMY["LO"])
                elem.value = clean_text(code, secrets)[:64]
        elif vr in _TEXT and kw not in CODE_STRUCTURE and elem.value not in (None, ""):
            if elem.VM > 1:
                elem.value = [clean_text(str(v), secrets, patterns=vr in _LONG_TEXT) for v in elem.value]
            else:
                elem.value = clean_text(str(elem.value), secrets, patterns=vr in _LONG_TEXT)

    # -- files ----------------------------------------------------------------------------
    def file(self, source: str | Path, destination: str | Path) -> Path:
        """De-identify one DICOM file into ``destination`` (a file path chosen by the caller)."""
        import pydicom

        ds = self.dataset(pydicom.dcmread(source))
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(destination, enforce_file_format=True)
        return destination

    def folder(self, source: str | Path, destination: str | Path, *, progress: bool = True,
               phi_check: Literal["raise", "warn"] = "raise") -> Any:
        """De-identify every DICOM file under ``source`` into ``destination``/pseudonym/study/series/sop.dcm.

        All or nothing: files are written to a temporary folder beside ``destination`` and moved into
        place only when every file is done and the PHI scan of the output is clean; the PseudonymMap is
        saved whatever happens (outside ``destination``: writing it inside is refused), so a rerun gives
        the same pseudonyms, UIDs and date shifts. Two inputs with one SOPInstanceUID, or an output that
        exists with other content, are reported in ``.problems`` and never overwrite each other.

        Returns:
            a medwb.deid.run.DeidResult: ``.files`` (source, destination, pseudonym), ``.problems``,
            ``.phi`` (scan_phi of the output with the source identifiers; empty) and ``.phi_clean``.
            ``len(result)`` and ``result["destination"]`` read ``.files``, as the table returned before.

        Raises:
            BurnedInAnnotationError: an input is flagged BurnedInAnnotation YES (nothing is written).
            PHIFoundError: with phi_check="raise" (default), the scan found identifiers (nothing written);
                phi_check="warn" writes the output and warns instead.
        """
        from medwb.deid.run import run_folder

        return run_folder(self, source, destination, progress=progress, phi_check=phi_check)

    def datasets(self, items: Iterable[Any]) -> list[Any]:
        """De-identify several datasets (e.g. results before STOW-RS export)."""
        return [self.dataset(d) for d in items]
