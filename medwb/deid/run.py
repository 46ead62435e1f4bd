"""One de-identification run over a folder: all or nothing, checked by a PHI scan, with a report.

run_folder() (what Deidentifier.folder calls) writes into a temporary folder beside the destination,
scans the result for the source's identifiers with scan_phi, and only then moves it into place; on any
error the temporary folder is removed, and the PseudonymMap is saved whatever happens, so that a rerun
gives the same pseudonyms, UIDs and date shifts. Output paths are built from the pseudonym and the new
UIDs through medwb.paths.safe_name and checked to stay inside the destination (with the Retain UIDs
option they come from the file itself).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from medwb.deid.phiscan import scan_phi
from medwb.deid.text import identifying_values
from medwb.io.dicom.files import walk_files
from medwb.paths import inside, safe_name

__all__ = ["DeidResult", "PHIFoundError", "PHIWarning", "run_folder"]

_FILE_COLUMNS = ["source", "destination", "pseudonym"]
_PROBLEM_COLUMNS = ["source", "problem", "fix"]
# UIDs that name a kind of object, not an instance: a short numeric id may equal one of their components
_CLASS_UIDS = {"SOPClassUID", "ReferencedSOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID",
               "ImplementationClassUID", "CodingSchemeUID", "ContextUID", "MappingResourceUID"}


class PHIFoundError(RuntimeError):
    """The PHI scan of a de-identified output found identifying values; nothing was written."""

    def __init__(self, message: str, findings: pd.DataFrame) -> None:
        super().__init__(message)
        self.findings = findings


class PHIWarning(UserWarning):
    """A de-identified output was written although the PHI scan found identifying values."""


@dataclass
class DeidResult:
    """What a folder run did.

    Attributes:
        destination: the output folder.
        files: one row per written file (source, destination, pseudonym).
        problems: one row per input not written (source, problem, fix): not DICOM, a duplicate
            SOPInstanceUID, an output that exists with other content.
        phi: scan_phi's findings over the output, searched for the source's identifiers (empty: clean).
        map_path: where the PseudonymMap was saved (None: in memory only).
    """

    destination: Path
    files: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_PROBLEM_COLUMNS))
    phi: pd.DataFrame = field(default_factory=pd.DataFrame)
    map_path: Path | None = None

    @property
    def phi_clean(self) -> bool:
        """True when the PHI scan of the output found nothing."""
        return self.phi.empty

    def __len__(self) -> int:  # the table folder() used to return
        return len(self.files)

    def __getitem__(self, column: str) -> pd.Series:
        return self.files[column]

    def __repr__(self) -> str:
        scan = "clean" if self.phi_clean else f"{len(self.phi)} finding(s), see .phi"
        return (f"DeidResult({len(self.files)} file(s) in {self.destination}, {len(self.problems)} problem(s), "
                f"PHI scan: {scan})")


def _relative(out: Any, fallback: str) -> Path:
    parts = [safe_name(out.get("PatientID", ""), fallback="patient"),
             safe_name(out.get("StudyInstanceUID", ""), fallback="study"),
             safe_name(out.get("SeriesInstanceUID", ""), fallback="series"),
             safe_name(out.get("SOPInstanceUID", "") or fallback, fallback="instance") + ".dcm"]
    return Path(*parts)


def _allowed(findings: pd.DataFrame, deid: Any) -> pd.Series:
    """Findings that the chosen options keep on purpose (private attributes, retained attributes)."""
    last = findings["where"].str.rsplit(".", n=1).str[-1].str.replace(r"\[\d+\]$", "", regex=True)
    ok = pd.Series(False, index=findings.index)
    if deid.keep_private:
        ok |= findings["kind"] == "private attribute"
    ok |= (findings["kind"] == "direct identifier") & last.isin(deid.retained)
    ok |= (findings["kind"] == "identifying value") & last.isin(_CLASS_UIDS)  # '840' of 1.2.840.10008...
    return ok


def run_folder(deid: Any, source: str | Path, destination: str | Path, *, progress: bool = True,
               phi_check: Literal["raise", "warn"] = "raise") -> DeidResult:
    """De-identify every DICOM file under ``source`` into ``destination`` with ``deid`` (a Deidentifier)."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from tqdm.auto import tqdm

    if phi_check not in ("raise", "warn"):
        raise ValueError(f"phi_check is {phi_check!r}. Fix: pass phi_check='raise' or 'warn'.")
    source, destination = Path(source).resolve(), Path(destination).resolve()
    mapping = deid.mapping
    if mapping.path is not None and destination in mapping.path.resolve().parents:
        raise ValueError(f"the pseudonym map {mapping.path} lies inside the output folder {destination}: "
                         "it holds the original identities.\nFix: keep it elsewhere, e.g. "
                         "~/.config/medwb/deid/<project>.json.")
    if destination == source or source in destination.parents:
        raise ValueError(f"the output folder {destination} lies inside the input folder {source}: a rerun "
                         "would read its own output.\nFix: write beside the input, not inside it.")
    if not source.is_dir():
        raise FileNotFoundError(f"the input folder {source} does not exist. Fix: pass a folder of DICOM files.")
    files, unreachable = walk_files(source)  # symlinked series folders are followed, loops reported
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    rows: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    identifiers: set[str] = set()
    seen: dict[str, Path] = {}
    problems += [{"source": str(path), "problem": f"not read: {why}", "fix": "see the reason"}
                 for path, why in unreachable]
    kinds = ["names", "ids", "dates", "contacts"] + ([] if deid.options["retain_institution_identity"]
                                                     else ["institution"])
    try:
        for path in tqdm(files, desc="de-identify", disable=not progress, leave=False):
            try:
                ds = pydicom.dcmread(path)
            except InvalidDicomError:
                problems.append({"source": str(path), "problem": "not a DICOM file; skipped",
                                 "fix": "none needed if it is not an image"})
                continue
            except Exception as err:  # noqa: BLE001 - a damaged file is reported, the others go on
                problems.append({"source": str(path), "problem": f"could not be read ({type(err).__name__}: "
                                 f"{err}); skipped", "fix": "check the file (truncated copy?) and rerun"})
                continue
            sop = str(ds.get("SOPInstanceUID", "") or "")
            if sop and sop in seen:
                problems.append({"source": str(path), "problem": f"has the SOPInstanceUID of {seen[sop]}; not "
                                 "written (the first file is kept)", "fix": "find out which copy is good; "
                                 "de-identify it alone if it is this one"})
                continue
            seen[sop] = path
            identifiers |= identifying_values(ds, kinds)
            out = deid.dataset(ds)
            rel = _relative(out, deid.mapping.uid(str(path)))  # no SOPInstanceUID: never the file's own name
            target = inside(staging / rel, staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            out.save_as(target, enforce_file_format=True)
            rows.append({"source": str(path), "destination": str(destination / rel),
                         "pseudonym": str(out.PatientID)})
        findings = scan_phi(staging, identifiers=sorted(identifiers | set(mapping.originals())))
        findings = findings[~_allowed(findings, deid)].reset_index(drop=True) if len(findings) else findings
        findings["path"] = [str(destination / Path(p).relative_to(staging)) for p in findings["path"]]
        if len(findings) and phi_check == "raise":
            raise PHIFoundError(
                f"the PHI scan of the de-identified output found {len(findings)} identifying value(s), e.g. "
                f"{findings.iloc[0]['kind']} in {findings.iloc[0]['where']}; nothing was written.\nFix: report "
                "it as a medwb bug (err.findings lists them), or pass phi_check='warn' to write it anyway.",
                findings)
        if len(findings):
            warnings.warn(f"the de-identified output still holds {len(findings)} identifying value(s); see "
                          "result.phi before sharing it", PHIWarning, stacklevel=3)
        rows = _move_into_place(staging, destination, rows, problems)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if mapping.path is not None:
            mapping.save()
    return DeidResult(destination, pd.DataFrame(rows, columns=_FILE_COLUMNS),
                      pd.DataFrame(problems, columns=_PROBLEM_COLUMNS), findings, mapping.path)


def _move_into_place(staging: Path, destination: Path, rows: list[dict[str, Any]],
                     problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move the finished output into ``destination``; an existing file is never overwritten."""
    if not destination.exists() or (destination.is_dir() and not any(destination.iterdir())):
        os.replace(staging, destination)  # one rename: the whole output appears at once
        return rows
    kept = []
    for row in rows:
        target = Path(row["destination"])
        staged = staging / target.relative_to(destination)
        if target.exists():
            if not filecmp.cmp(staged, target, shallow=False):
                problems.append({"source": row["source"], "problem": f"{target} exists with other content "
                                 "(another input with the same SOPInstanceUID?); not overwritten",
                                 "fix": "find out which is good; write to a new folder to compare"})
                continue
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        kept.append(row)
    return kept
