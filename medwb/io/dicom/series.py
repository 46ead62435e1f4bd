"""Turn one DICOM series (a folder, a list of files, or one multi-frame file) into a Volume.

Slices are ordered by position along the normal of ImageOrientationPatient, never by InstanceNumber or
file name; RescaleSlope / RescaleIntercept are applied (int16 kept when exact, float32 otherwise).
Gaps, duplicates, mixed orientations or sizes and gantry tilt raise errors that name the files and the fix.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom

from medwb.io.dicom.errors import DicomReadError, MixedSeriesError, SeriesGeometryError
from medwb.io.dicom.files import list_files, walk_files
from medwb.io.dicom.geometry import analyse_stack, orientation_groups
from medwb.io.dicom.pixels import FileRecord, read_files
from medwb.io.dicom.stacking import apply_rescale, duplicates, permute_inplace, resample_gaps, untilt
from medwb.volume import Volume

__all__ = ["load_series", "list_files"]

Source = str | os.PathLike | Sequence[str | os.PathLike]


def _resolve(source: Source) -> tuple[list[Path], bool, str]:
    """(files, from_folder, label); folders not followed (symlink loops...) are warned about."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir():
            files, not_followed = walk_files(p)
            if not_followed:
                warnings.warn(
                    f"{p}: {len(not_followed)} folder(s) not followed, e.g. {not_followed[0][0]}: "
                    f"{not_followed[0][1]}",
                    stacklevel=3,
                )
            if not files:
                raise DicomReadError(f"folder {p} holds no files.\nFix: pass the folder of one series.")
            return files, True, str(p)
        if p.is_file():
            return [p], False, str(p)
        raise FileNotFoundError(f"{p} does not exist.\nFix: check the path (relative to {Path.cwd()}).")
    files = [Path(f) for f in source]
    if not files:
        raise DicomReadError("an empty list of files was given.\nFix: pass at least one DICOM file.")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} file(s) do not exist, e.g. {missing[0]}")
    return files, False, f"{len(files)} files from {files[0].parent}"


def _frames(records: list[FileRecord], buffer: np.ndarray | None) -> tuple[np.ndarray, list[str], list[int]]:
    """(stack (N, rows, cols) in record order, a name per frame, owning record per frame)."""
    if all(r.buffer_index >= 0 for r in records) and buffer is not None:
        idx = [r.buffer_index for r in records]
        stack = buffer if idx == list(range(len(buffer))) else buffer[idx]
        return stack, [r.path.name for r in records], list(range(len(records)))
    arrays, names, owner = [], [], []
    for i, r in enumerate(records):
        frames = buffer[r.buffer_index : r.buffer_index + 1] if r.buffer_index >= 0 else r.pixels
        assert frames is not None
        arrays.append(frames)
        owner += [i] * len(frames)
        names += [r.path.name] if len(frames) == 1 else [f"{r.path.name} frame {k + 1}" for k in range(len(frames))]
    dtypes = {a.dtype for a in arrays}
    dtype = np.result_type(*dtypes) if len(dtypes) > 1 else arrays[0].dtype
    return np.concatenate([a.astype(dtype, copy=False) for a in arrays]), names, owner


def _description(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesDescription"]).get(
        "SeriesDescription", ""))


def _check_same(records: list[FileRecord], label: str) -> None:
    series = {}
    for r in records:
        series.setdefault(r.series_uid, []).append(r)
    if len(series) > 1:
        lines = [
            f"  {uid or '(no SeriesInstanceUID)'}: {len(rs)} files, "
            f"{_description(rs[0].path)!r}, e.g. {rs[0].path}"
            for uid, rs in series.items()
        ]
        raise MixedSeriesError(
            f"{label} holds {len(series)} image series:\n" + "\n".join(lines) + "\n"
            "Fix: pass the folder (or the files) of one series, or index first: "
            "idx = medwb.scan_dicom(folder); idx.load(series_uid)."
        )
    sizes = {(r.rows, r.cols): r for r in records}
    if len(sizes) > 1:
        desc = "; ".join(f"{r.path.name} is {rc[0]}x{rc[1]}" for rc, r in sizes.items())
        raise SeriesGeometryError(
            f"series {records[0].series_uid} mixes image sizes ({desc}).\n"
            "Fix: leave out the odd files (often a localizer or a reformat) and pass the rest as a list."
        )


def _nominal_step(ds: pydicom.Dataset) -> float:
    """Slice spacing stated in the header (|SpacingBetweenSlices|, else SliceThickness, else 1 mm)."""
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = abs(float(ds.get(key) or 0))  # some scanners write a negative spacing
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            return value
    return 1.0


def load_series(
    source: Source,
    *,
    on_gap: Literal["raise", "resample"] = "raise",
    on_tilt: Literal["raise", "resample", "keep"] = "raise",
    progress: bool = False,
) -> Volume:
    """Load one DICOM series as a Volume (axes slice, row, column; affine to LPS mm).

    Args:
        source: a folder holding one series (searched recursively; non-DICOM files, unusable files --
            damaged, palette colour, unknown transfer syntax, unusable RescaleSlope -- and non-image
            objects such as SR or presentation states are skipped with a warning naming them; directory
            symlink loops are not followed), a list of DICOM
            files, or one multi-frame file (Enhanced CT/MR or legacy multi-frame).
        on_gap: "raise" (default) when slice spacing is uneven (e.g. a missing slice); "resample"
            interpolates linearly onto a uniform grid, with a warning.
        on_tilt: gantry tilt (slices offset within their plane): "raise" (default); "resample" shifts
            each slice onto a grid orthogonal to the image plane (warning); "keep" returns the exact
            sheared affine.
        progress: show a tqdm progress bar while reading.

    Example:
        >>> import numpy as np, tempfile
        >>> from medwb import Volume
        >>> from medwb.export.series import write_series
        >>> v = Volume.from_geometry(np.arange(48, dtype=np.int16).reshape(3, 4, 4), (2, 1, 1), modality="CT")
        >>> folder = tempfile.mkdtemp(); _ = write_series(v, folder, instance_order=[2, 0, 1])
        >>> w = load_series(folder)
        >>> np.array_equal(w.array, v.array), w.spacing
        (True, (2.0, 1.0, 1.0))
    """
    if on_gap not in ("raise", "resample"):
        raise ValueError(f"on_gap must be 'raise' or 'resample', got {on_gap!r}")
    if on_tilt not in ("raise", "resample", "keep"):
        raise ValueError(f"on_tilt must be 'raise', 'resample' or 'keep', got {on_tilt!r}")
    files, from_folder, label = _resolve(source)
    records, buffer, skipped = read_files(files, progress=progress, strict=not from_folder)
    images = [r for r in records if r.kind == "image"]
    others = [r for r in records if r.kind != "image"]
    if not images:
        kinds = sorted({r.kind for r in others})
        example = f", e.g. {skipped[0][1]}" if skipped else ""
        raise DicomReadError(
            f"{label} holds no image to load ({len(others)} non-image objects: {', '.join(kinds) or 'none'}; "
            f"{len(skipped)} unusable files{example}).\nFix: pass a folder or files of an image series; "
            "medwb.scan_dicom(folder) shows what is there and why each file is unusable."
        )
    if skipped or others:
        what = [f"{p.name} ({why})" for p, why in skipped[:3]] + [
            f"{r.path.name} ({r.kind if r.kind != 'other' else 'no image data: damaged or not an image'})"
            for r in others[:3]
        ]
        warnings.warn(
            f"{label}: skipped {len(skipped)} unusable file(s) and {len(others)} non-image object(s): "
            + ", ".join(what),
            stacklevel=2,
        )
    _check_same(images, label)
    stack, names, owner = _frames(images, buffer)
    ipp = np.concatenate([r.ipp for r in images])
    iop = np.concatenate([r.iop for r in images])
    ps = np.concatenate([r.pixel_spacing for r in images])
    slope = np.concatenate([r.slope for r in images])
    intercept = np.concatenate([r.intercept for r in images])
    first = pydicom.dcmread(images[0].path, stop_before_pixels=True)  # metadata for .meta only
    uid = images[0].series_uid
    notes: list[str] = []

    if np.isnan(iop).any() or np.isnan(ipp).any():
        bad = [names[i] for i in range(len(names)) if np.isnan(iop[i]).any() or np.isnan(ipp[i]).any()]
        if len(bad) < len(names):
            raise SeriesGeometryError(
                f"series {uid}: {len(bad)} of {len(names)} images lack ImagePositionPatient / "
                f"ImageOrientationPatient (e.g. {bad[0]}).\nFix: leave those files out."
            )
        warnings.warn(
            f"{label}: no ImagePositionPatient / ImageOrientationPatient; slices are stacked in "
            "InstanceNumber / frame order on an axial grid at the origin (the true geometry is unknown).",
            stacklevel=2,
        )
        notes.append("geometry unknown: synthetic axial grid")
        order = np.argsort([images[o].instance_number for o in owner], kind="stable")
        stack, names = stack[order], [names[i] for i in order]
        slope, intercept, owner = slope[order], intercept[order], [owner[i] for i in order]
        step = _nominal_step(first)
        iop = np.tile([1.0, 0, 0, 0, 1, 0], (len(names), 1))
        ipp = np.arange(len(names))[:, None] * np.array([[0.0, 0.0, step]])
        ps = np.where(np.isnan(ps), 1.0, ps)
    if np.isnan(ps).any():
        warnings.warn(f"{label}: PixelSpacing missing; assuming 1 mm.", stacklevel=2)
        ps = np.where(np.isnan(ps), 1.0, ps)

    groups = orientation_groups(iop)
    if len(groups) > 1:
        desc = "; ".join(f"{len(g)} like {names[g[0]]} (IOP {np.round(iop[g[0]], 3).tolist()})" for g in groups)
        raise SeriesGeometryError(
            f"series {uid} mixes {len(groups)} slice orientations: {desc}.\n"
            "Fix: a localizer or reformat is mixed in; pass only the files of one orientation as a list."
        )
    if not np.allclose(ps, ps[0], atol=1e-4):
        k = int(np.nonzero(~np.isclose(ps, ps[0], atol=1e-4).all(axis=1))[0][0])
        raise SeriesGeometryError(
            f"series {uid}: PixelSpacing differs between {names[0]} ({ps[0].tolist()}) and {names[k]} "
            f"({ps[k].tolist()}).\nFix: load the files of each spacing separately."
        )
    default_step = _nominal_step(first)
    geo = analyse_stack(ipp, iop[0], ps[0], default_step)
    if geo.duplicates:
        drop = set(duplicates(geo, stack, names, slope, intercept, uid))
        keep = np.array([i for i in range(len(names)) if i not in drop])
        stack, names = stack[keep], [names[i] for i in keep]
        ipp, slope, intercept = ipp[keep], slope[keep], intercept[keep]
        owner = [owner[i] for i in keep]
        notes.append(f"dropped {len(drop)} duplicate slices")
        geo = analyse_stack(ipp, iop[0], ps[0], default_step)
    order = geo.order
    if not np.array_equal(order, np.arange(len(order))):
        stack = permute_inplace(stack, order) if stack is buffer else stack[order]
    slope, intercept = slope[order], intercept[order]
    names = [names[i] for i in order]
    files_sorted = [str(images[owner[i]].path) for i in order]

    if geo.gaps:
        pos = {int(o): k for k, o in enumerate(order)}
        i, j, dist = geo.gaps[0]
        missing = dist / geo.step
        why = (
            f"about {round(missing) - 1} slice(s) are probably missing"
            if missing > 1.5 and abs(missing - round(missing)) < 0.1
            else "the spacing is uneven"
        )
        if on_gap == "raise":
            raise SeriesGeometryError(
                f"series {uid} has slices {geo.step:.4g} mm apart except between "
                f"{names[pos[i]]} and {names[pos[j]]} ({dist:.4g} mm): {why}"
                f"{f' ({len(geo.gaps)} irregular steps in all)' if len(geo.gaps) > 1 else ''}.\n"
                'Fix: load it anyway with load_series(..., on_gap="resample"), or find the missing file.'
            )
        warnings.warn(
            f"series {uid}: {why} ({len(geo.gaps)} irregular steps); resampled onto a uniform "
            f"{geo.step:.4g} mm grid by linear interpolation.",
            stacklevel=2,
        )
        slope_u, icpt_u = np.unique(slope), np.unique(intercept)
        if len(slope_u) > 1 or len(icpt_u) > 1:  # rescale before mixing slices
            stack, slope, intercept = apply_rescale(stack, slope, intercept), np.ones(1), np.zeros(1)
        stack, t = resample_gaps(stack, geo)
        # positions of the new slices: the straight line through the first and last IPP
        frac = (t - t[0]) / (t[-1] - t[0]) if t[-1] > t[0] else np.zeros_like(t)
        ipp_new = geo.ipp[0] + frac[:, None] * (geo.ipp[-1] - geo.ipp[0])
        geo = analyse_stack(ipp_new, geo.iop, geo.pixel_spacing, geo.step)
        slope = np.full(len(stack), slope[0])
        intercept = np.full(len(stack), intercept[0])
        notes.append(f"resampled onto a uniform {geo.step:.4g} mm grid (on_gap)")

    affine = geo.affine()
    if geo.tilted:
        offsets = geo.inplane_offset if geo.inplane_offset is not None else np.zeros((len(stack), 3))
        angle = float(np.degrees(np.arctan2(np.linalg.norm(offsets[-1]), geo.distance[-1] - geo.distance[0])))
        if on_tilt == "raise":
            raise SeriesGeometryError(
                f"series {uid}: slices are shifted within their plane along the stack (gantry tilt of "
                f"about {angle:.2f} degrees; {names[-1]} is offset {np.linalg.norm(offsets[-1]):.3g} mm).\n"
                'Fix: load_series(..., on_tilt="resample") to resample onto an orthogonal grid, or '
                'on_tilt="keep" for the exact sheared affine.'
            )
        if on_tilt == "resample":
            warnings.warn(
                f"series {uid}: gantry tilt of about {angle:.2f} degrees; slices shifted onto a grid "
                "orthogonal to the image plane (linear interpolation).",
                stacklevel=2,
            )
            stack = untilt(stack, geo, offsets)
            affine = geo.orthogonal_affine()
            notes.append(f"resampled to remove a {angle:.2f} degree gantry tilt")
        else:
            notes.append(f"sheared affine: gantry tilt {angle:.2f} degrees")

    array = apply_rescale(stack, slope, intercept)
    meta = {
        "series_uid": uid,
        "study_uid": str(first.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "")),
        "modality": str(first.get("Modality", "OT") or "OT"),
        "series_description": str(first.get("SeriesDescription", "")),
        "sop_class_uid": str(first.get("SOPClassUID", "")),
        "transfer_syntax": images[0].transfer_syntax,
        "source": label,
        "files": list(dict.fromkeys(files_sorted)),
    }
    if "WindowCenter" in first and "WindowWidth" in first:
        try:
            wc, ww = first.WindowCenter, first.WindowWidth
            meta["window"] = (float(wc[0] if isinstance(wc, Sequence) else wc),
                              float(ww[0] if isinstance(ww, Sequence) else ww))  # fmt: skip
        except (TypeError, ValueError, IndexError):
            pass
    if notes:
        meta["notes"] = notes
    return Volume(array, affine, meta["modality"], meta)
