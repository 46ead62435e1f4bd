"""Index a folder tree of DICOM files from their headers alone (pixels are never decoded).

scan() returns a DicomIndex: one row per file, one row per series, and one row per problem (every
unreadable or unusable file, and every series whose slices do not form a regular grid). Non-image
objects (SR, SEG, RTSTRUCT, presentation states, key objects, ...) are indexed and flagged, never
loaded as images. Loading a series is medwb.io.dicom.series.load_series (or DicomIndex.load).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medwb.io.dicom.checks import (
    expected_pixel_bytes,
    photometric_problem,
    pixel_data_problem,
    rescale_problem,
)
from medwb.io.dicom.errors import DicomReadError, MixedSeriesError
from medwb.io.dicom.fast import parse_fast
from medwb.io.dicom.files import walk_files
from medwb.io.dicom.geometry import analyse_stack, orientation_groups
from medwb.io.dicom.header import Header, check_decodable, object_kind, raw_floats, raw_value, read_header
from medwb.io.dicom.series import load_series
from medwb.volume import Volume

__all__ = ["DicomIndex", "scan"]

_FILE_COLUMNS = [
    "path", "patient_id", "study_uid", "series_uid", "sop_uid", "sop_class", "kind", "modality",
    "series_number", "series_description", "study_description", "study_date", "instance_number",
    "acquisition_number", "echo_time", "temporal_position", "ipp", "iop", "pixel_spacing", "rows", "cols",
    "number_of_frames", "samples_per_pixel", "transfer_syntax", "file_size", "usable",
]  # fmt: skip
_SERIES_COLUMNS = [
    "patient_id", "study_uid", "series_uid", "series_number", "modality", "series_description",
    "study_description", "study_date", "kind", "is_image", "n_files", "n_frames", "n_problems", "rows",
    "cols", "slice_spacing", "geometry", "folder",
]  # fmt: skip
_IMAGE_SOP_ROOT = "1.2.840.10008.5.1.4.1.1."


_SCAN_TAGS = frozenset({
    0x00080016, 0x00080018, 0x00080020, 0x00080060, 0x00081030, 0x0008103E, 0x00100020, 0x0020000D,
    0x0020000E, 0x00200011, 0x00200012, 0x00200013, 0x00180081, 0x00200100, 0x00200032, 0x00200037,
    0x00280030, 0x00280010, 0x00280011, 0x00280008, 0x00280002, 0x00280004, 0x00280100, 0x00281052,
    0x00281053,
})  # fmt: skip


def _text(ds: Any, tag: int, keyword: str, path: Path) -> str:
    v = raw_value(ds, tag)
    if v is None:
        return ""
    if isinstance(v, str) and not v.isascii():  # honour SpecificCharacterSet for non-ASCII names
        try:
            import pydicom

            full = ds if not isinstance(ds, dict) else pydicom.dcmread(path, stop_before_pixels=True)
            return str(full.get(keyword, "") or "")
        except Exception:  # noqa: BLE001 - a bad charset must not stop a scan
            return v
    return str(v)


def _header(path: Path) -> Header:
    """medwb's fast header walker, or pydicom when the file needs it."""
    with open(path, "rb") as f:
        fh = parse_fast(f, _SCAN_TAGS)
        if fh is not None:
            return Header(path, fh.values, fh.file_size, fh.pixel_tag, fh.pixel_offset, fh.pixel_length,
                          fh.implicit_vr, True, fh.transfer_syntax)  # fmt: skip
        f.seek(0)
        return read_header(path, f)


def _number(v: Any) -> float:
    try:
        return float(v) if v not in (None, "") else np.nan
    except (TypeError, ValueError):
        return np.nan


def _scan_one(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """(row for .files or None, problem reasons)."""
    try:
        h = _header(path)
    except OSError as exc:
        return None, [f"cannot read the file: {exc}"]
    except DicomReadError as exc:
        return None, [str(exc).split("\n")[0].replace(f"{path}: ", "").replace(f"{path} ", "")]
    ds, le = h.ds, h.little_endian
    sop = str(raw_value(ds, 0x00080016) or "")
    meta_sop = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "") or "")
    cut_short = not sop and not str(raw_value(ds, 0x0020000E) or "")
    sop = sop or meta_sop
    has_pixels = h.pixel_tag is not None
    kind = object_kind(sop, has_pixels)
    frames = _number(raw_value(ds, 0x00280008))
    row = {
        "path": str(path),
        "patient_id": _text(ds, 0x00100020, "PatientID", path),
        "study_uid": str(raw_value(ds, 0x0020000D) or ""),
        "series_uid": str(raw_value(ds, 0x0020000E) or ""),
        "sop_uid": str(raw_value(ds, 0x00080018) or ""),
        "sop_class": sop,
        "kind": kind,
        "modality": str(raw_value(ds, 0x00080060) or ""),
        "series_number": _number(raw_value(ds, 0x00200011)),
        "series_description": _text(ds, 0x0008103E, "SeriesDescription", path),
        "study_description": _text(ds, 0x00081030, "StudyDescription", path),
        "study_date": str(raw_value(ds, 0x00080020) or ""),
        "instance_number": _number(raw_value(ds, 0x00200013)),
        "acquisition_number": _number(raw_value(ds, 0x00200012)),
        "echo_time": _number(raw_value(ds, 0x00180081)),
        "temporal_position": _number(raw_value(ds, 0x00200100)),
        "ipp": _tuple(raw_floats(ds, 0x00200032, 3)),
        "iop": _tuple(raw_floats(ds, 0x00200037, 6)),
        "pixel_spacing": _tuple(raw_floats(ds, 0x00280030, 2)),
        "rows": _number(raw_value(ds, 0x00280010, le)),
        "cols": _number(raw_value(ds, 0x00280011, le)),
        "number_of_frames": 1 if np.isnan(frames) else int(frames),
        "samples_per_pixel": _number(raw_value(ds, 0x00280002, le)),
        "transfer_syntax": h.transfer_syntax,
        "file_size": h.file_size,
        "usable": True,
    }
    problems = []
    if cut_short:
        problems.append("header ends before SOPClassUID/SeriesInstanceUID: the file is truncated or damaged")
    elif kind == "other" and sop.startswith(_IMAGE_SOP_ROOT):
        problems.append(f"image object (SOP class {sop}) without pixel data")
    if kind == "image":
        problems += _image_problems(h, row, path)
    elif h.truncated:
        problems.append(pixel_data_problem(h, 0) or "truncated")
    row["usable"] = not problems
    return row, problems


def _image_problems(h: Header, row: dict[str, Any], path: Path) -> list[str]:
    """What makes an image file unusable (medwb.io.dicom.checks, as load_series checks it)."""
    ds = h.ds
    try:
        check_decodable(h.transfer_syntax, path)
    except DicomReadError as exc:
        return [str(exc).split("\n")[0].replace(f"{path}: ", "")]
    found: list[str | None] = []
    spp = row["samples_per_pixel"]
    if not np.isnan(spp) and spp != 1:
        found.append(f"colour image (SamplesPerPixel {int(spp)}); load_series stacks greyscale only")
    found.append(photometric_problem(raw_value(ds, 0x00280004)))
    if row["number_of_frames"] == 1:
        found.append(rescale_problem(raw_value(ds, 0x00281053), raw_value(ds, 0x00281052)))
    need = 0  # colour (already reported) may be chroma-subsampled (YBR_FULL_422): its size is not checked
    grey = np.isnan(spp) or spp == 1
    if h.pixel_tag == 0x7FE00010 and h.pixel_length != 0xFFFFFFFF and grey and not np.isnan(row["rows"] + row["cols"]):
        bits = int(raw_value(ds, 0x00280100, h.little_endian) or 16)
        need = expected_pixel_bytes(int(row["rows"]), int(row["cols"]), row["number_of_frames"], 1, bits)
    found.append(pixel_data_problem(h, need))
    return [p for p in found if p]


def _tuple(arr: np.ndarray | None) -> tuple[float, ...] | None:
    return None if arr is None else tuple(float(x) for x in arr)


def _series_geometry(files: pd.DataFrame) -> tuple[str, float, list[tuple[str, str]]]:
    """(summary, slice spacing, [(path, reason)]) for the usable image files of one series."""
    if len(files) == 1:
        n = int(files["number_of_frames"].iloc[0])
        return ("multi-frame" if n > 1 else "single image"), np.nan, []
    if files["ipp"].isna().any() or files["iop"].isna().any():
        bad = files[files["ipp"].isna() | files["iop"].isna()]["path"].iloc[0]
        return "no position", np.nan, [(bad, "no ImagePositionPatient/ImageOrientationPatient")]
    sizes = list(zip(files["rows"], files["cols"]))
    if len(set(sizes)) > 1:
        counts = pd.Series(sizes).value_counts(sort=True)
        common = counts.index[0]  # the size most files have; each file of another size is named
        odd = [(p, rc) for p, rc in zip(files["path"], sizes) if rc != common]
        return "mixed size", np.nan, [
            (p, f"image size {int(rc[0])}x{int(rc[1])} differs from the series' {int(common[0])}x{int(common[1])} "
                f"({counts.iloc[0]} files): leave this file out (often a localizer or a reformat)")
            for p, rc in odd
        ]
    iop = np.array(files["iop"].tolist())
    groups = orientation_groups(iop)
    if len(groups) > 1:
        odd = files["path"].iloc[int(min(groups, key=len)[0])]
        return "mixed orientation", np.nan, [(odd, f"series mixes {len(groups)} slice orientations")]
    ps = files["pixel_spacing"].iloc[0] or (1.0, 1.0)
    geo = analyse_stack(np.array(files["ipp"].tolist()), iop[0], ps)
    paths = files["path"].tolist()
    issues, found = [], []
    if geo.duplicates:
        i, j = geo.duplicates[0]
        found.append("duplicates")
        issues.append((paths[j], f"{len(geo.duplicates)} slice position(s) repeated, e.g. same as {Path(paths[i]).name}"))
    if geo.gaps:
        i, j, dist = geo.gaps[0]
        found.append("gap")
        issues.append(
            (paths[j], f"slice spacing {geo.step:.4g} mm except {dist:.4g} mm after {Path(paths[i]).name}; "
             'load with on_gap="resample"')
        )  # fmt: skip
    if geo.tilted:
        found.append("tilt")
        issues.append((paths[int(geo.order[-1])], 'gantry tilt; load with on_tilt="resample" or "keep"'))
    return (", ".join(found) or "ok"), geo.step, issues


@dataclass
class DicomIndex:
    """What scan() found: ``.files``, ``.series`` and ``.problems`` (pandas DataFrames)."""

    root: Path
    files: pd.DataFrame
    series: pd.DataFrame
    problems: pd.DataFrame

    @property
    def studies(self) -> pd.DataFrame:
        """One row per study: patient, date, description, number of series and their modalities."""
        if self.series.empty:
            return pd.DataFrame(columns=["patient_id", "study_uid", "study_date", "study_description",
                                         "n_series", "modalities"])  # fmt: skip
        g = self.series.groupby(["patient_id", "study_uid"], sort=True, dropna=False)
        return g.agg(
            study_date=("study_date", "first"),
            study_description=("study_description", "first"),
            n_series=("series_uid", "size"),
            modalities=("modality", lambda m: "/".join(sorted(set(m) - {""}))),
        ).reset_index()

    def paths(self, series_uid: str) -> list[Path]:
        """The usable files of one series."""
        rows = self.files[(self.files["series_uid"] == series_uid) & self.files["usable"]]
        if rows.empty:
            known = ", ".join(self.series["series_uid"].head(5))
            raise MixedSeriesError(
                f"no usable files for series {series_uid!r} under {self.root}.\n"
                f"Fix: use a series_uid from index.series (e.g. {known})."
            )
        return [Path(p) for p in rows["path"]]

    def load(self, series_uid: str | None = None, **kwargs: Any) -> Volume:
        """load_series() on one series' usable files; with no uid, the only image series."""
        if series_uid is None:
            images = self.series[self.series["is_image"]]
            if len(images) != 1:
                raise MixedSeriesError(
                    f"{self.root} holds {len(images)} image series; say which: index.load(series_uid).\n"
                    + images[["series_uid", "modality", "series_description", "n_files"]].to_string()
                )
            series_uid = str(images["series_uid"].iloc[0])
        return load_series(self.paths(series_uid), **kwargs)

    def __repr__(self) -> str:
        n_img = int(self.series["is_image"].sum()) if len(self.series) else 0
        return (
            f"DicomIndex({self.root}: {len(self.files)} files, {self.files['patient_id'].nunique() if len(self.files) else 0} "
            f"patients, {len(self.series)} series ({n_img} image), {len(self.problems)} problems)"
        )


def scan(folder: str | os.PathLike, progress: bool = True, recursive: bool = True) -> DicomIndex:
    """Index every file under ``folder`` from its DICOM header (no pixel decoding).

    Args:
        folder: root of a DICOM tree (any layout; DICOMDIR files are indexed, not needed).
        progress: tqdm progress bar.
        recursive: descend into sub-folders.

    Returns:
        DicomIndex with ``.files`` (one row per DICOM file), ``.series`` (one row per series, with
        ``kind`` "image" / "SR" / "SEG" / "RTSTRUCT" / "PR" / "KO" / ... and a ``geometry`` verdict) and
        ``.problems`` (path, series_uid, reason) for every unreadable or unusable file (damaged or
        truncated pixels, unknown transfer syntax, palette colour, a RescaleSlope that is not a finite
        number...), every series whose slices do not form one grid (the odd files named), and every
        folder not followed (a directory symlink loop).

    Example:
        >>> import numpy as np, tempfile
        >>> from medwb import Volume
        >>> from medwb.export.series import write_series
        >>> root = tempfile.mkdtemp()
        >>> _ = write_series(Volume.from_geometry(np.zeros((4, 8, 8), np.int16), modality="CT"), root)
        >>> idx = scan(root, progress=False)
        >>> len(idx.files), idx.series["geometry"].tolist(), len(idx.problems)
        (4, ['ok'], 0)
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder.\nFix: pass the root folder of the DICOM files.")
    paths, skipped = walk_files(root, recursive=recursive)
    rows: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = [{"path": str(p), "series_uid": "", "reason": why} for p, why in skipped]
    iterator: Any = paths
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(paths, desc="scanning DICOM", unit="file", disable=len(paths) < 200)
    for p in iterator:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's per-file chatter; problems carry the verdict
                row, reasons = _scan_one(p)
        except Exception as exc:  # noqa: BLE001 - one odd file must never stop a scan of thousands
            row, reasons = None, [f"unreadable ({type(exc).__name__}: {exc})"]
        if row is not None:
            rows.append(row)
        for reason in reasons:
            problems.append({"path": str(p), "series_uid": row["series_uid"] if row else "", "reason": reason})
    files = pd.DataFrame(rows, columns=_FILE_COLUMNS)
    series_rows = []
    for uid, g in files.groupby("series_uid", sort=False, dropna=False):
        first = g.iloc[0]
        kinds = g["kind"].value_counts()
        kind = str(kinds.index[0])
        usable = g[g["usable"] & (g["kind"] == "image")]
        geometry, spacing = "", np.nan
        if kind == "image" and len(usable):
            geometry, spacing, issues = _series_geometry(usable.sort_values("path"))
            problems += [{"path": p, "series_uid": str(uid), "reason": r} for p, r in issues]
        elif kind == "image":
            geometry = "unusable"
        series_rows.append({
            "patient_id": first["patient_id"], "study_uid": first["study_uid"], "series_uid": uid,
            "series_number": first["series_number"], "modality": first["modality"],
            "series_description": first["series_description"], "study_description": first["study_description"],
            "study_date": first["study_date"], "kind": kind, "is_image": kind == "image" and len(usable) > 0,
            "n_files": len(g), "n_frames": int(g["number_of_frames"].sum()), "n_problems": int((~g["usable"]).sum()),
            "rows": first["rows"], "cols": first["cols"], "slice_spacing": spacing, "geometry": geometry,
            "folder": os.path.commonpath(g["path"].tolist()) if len(g) > 1 else str(Path(first["path"]).parent),
        })  # fmt: skip
    series = pd.DataFrame(series_rows, columns=_SERIES_COLUMNS)
    if len(series):
        series = series.sort_values(["patient_id", "study_uid", "series_number"], kind="stable").reset_index(drop=True)
    return DicomIndex(root, files, series, pd.DataFrame(problems, columns=["path", "series_uid", "reason"]))
