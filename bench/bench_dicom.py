"""DICOM reading speed: medwb vs SimpleITK (series load) and vs a plain pydicom loop (folder scan).

Run:  .venv/bin/python bench/bench_dicom.py [--repeats 7] [--scan-files 10000]
Writes bench/results/dicom.json. Files are written to a temporary folder first, so every read is
from the page cache (warm): the numbers compare parsing and decoding, not the disk.

Cases
  uncompressed  200 x 512 x 512 int16 CT, Explicit VR Little Endian, files in shuffled InstanceNumber
                order; target: medwb >= 1.5x SimpleITK.
  rle           50 x 512 x 512 int16 CT, RLE Lossless; target: medwb >= 10x SimpleITK.
  scan          10,000 small files (50 series of 200 slices of 64 x 64); medwb.io.dicom.scan vs a loop
                of pydicom.dcmread(stop_before_pixels=True) collecting the same columns into pandas.
The SimpleITK baseline is its usual recipe: GetGDCMSeriesFileNames (sorts by position) + Execute +
GetArrayFromImage. "sitk_read_only" (file list sorted beforehand, untimed) is reported as well.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medwb import Volume  # noqa: E402
from medwb.export.series import write_series  # noqa: E402
from medwb.io.dicom import load_series, scan  # noqa: E402


def phantom(n: int, size: int = 512, seed: int = 0) -> Volume:
    """A head-like int16 CT: skull ring, brain, air, noise (compresses like real CT under RLE)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot((yy - size / 2) / (0.42 * size), (xx - size / 2) / (0.36 * size))
    sl = np.full((size, size), -1000.0)
    sl[r < 1.0] = 1200.0
    sl[r < 0.92] = 35.0
    vol = np.repeat(sl[None], n, axis=0) + rng.normal(0, 8, size=(n, size, size))
    vol[:, r >= 1.0] = -1024  # air outside is flat, as in real scans
    return Volume.from_geometry(vol.astype(np.int16), spacing=(1.25, 0.5, 0.5), origin=(-128, -128, 0), modality="CT")


def timeit(fn, repeats: int) -> list[float]:
    fn()  # warm-up (imports, page cache)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stats(times: list[float], unit_count: float = 1.0) -> dict:
    return {
        "seconds": {"min": min(times), "median": statistics.median(times), "max": max(times)},
        "per_second": {
            "min": unit_count / max(times),
            "median": unit_count / statistics.median(times),
            "max": unit_count / min(times),
        },
        "repeats": len(times),
    }


def sitk_load(folder: Path) -> np.ndarray:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def sitk_read_only(names: list[str]) -> np.ndarray:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    return sitk.GetArrayFromImage(reader.Execute())


def bench_series(name: str, volume: Volume, syntax: str, repeats: int, target: float, tmp: Path) -> dict:
    import SimpleITK as sitk

    folder = tmp / name
    order = np.random.default_rng(1).permutation(volume.shape[0])
    write_series(volume, folder, transfer_syntax=syntax, instance_order=order, uid_seed=name)
    ours = load_series(folder)
    theirs = sitk_load(folder)
    assert np.array_equal(ours.array, theirs), f"{name}: medwb and SimpleITK disagree on voxels"
    names = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    t_medwb = timeit(lambda: load_series(folder), repeats)
    t_sitk = timeit(lambda: sitk_load(folder), repeats)
    t_sitk_ro = timeit(lambda: sitk_read_only(names), repeats)
    ratio = statistics.median(t_sitk) / statistics.median(t_medwb)
    return {
        "shape": list(volume.shape),
        "dtype": str(volume.array.dtype),
        "transfer_syntax": syntax,
        "unit": "volumes",
        "medwb": stats(t_medwb),
        "sitk": stats(t_sitk),
        "sitk_read_only": stats(t_sitk_ro),
        "ratio_median": ratio,
        "ratio_range": [min(t_sitk) / max(t_medwb), max(t_sitk) / min(t_medwb)],
        "ratio_vs_sitk_read_only": statistics.median(t_sitk_ro) / statistics.median(t_medwb),
        "target_ratio": target,
        "meets_target": ratio >= target,
    }


def pydicom_scan(paths: list[Path]):
    import pandas as pd
    import pydicom

    rows = []
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        rows.append({
            "path": str(p), "patient_id": ds.get("PatientID"), "study_uid": ds.get("StudyInstanceUID"),
            "series_uid": ds.get("SeriesInstanceUID"), "sop_class": ds.get("SOPClassUID"),
            "modality": ds.get("Modality"), "instance_number": ds.get("InstanceNumber"),
            "ipp": tuple(ds.get("ImagePositionPatient", ())), "iop": tuple(ds.get("ImageOrientationPatient", ())),
            "rows": ds.get("Rows"), "cols": ds.get("Columns"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def bench_scan(n_files: int, repeats: int, tmp: Path) -> dict:
    root = tmp / "scan"
    per_series = 200
    n_series = max(1, n_files // per_series)
    t0 = time.perf_counter()
    for s in range(n_series):
        vol = phantom(per_series, size=64, seed=s)
        write_series(vol, root / f"patient{s // 5:03d}" / f"series{s:03d}", patient_id=f"DEMO-{s // 5:03d}",
                     series_number=s % 5 + 1, uid_seed=f"scan-{s}")  # fmt: skip
    write_s = time.perf_counter() - t0
    from medwb.io.dicom.series import list_files

    paths = list_files(root)
    idx = scan(root, progress=False)
    assert len(idx.files) == len(paths) and len(idx.problems) == 0
    t_medwb = timeit(lambda: scan(root, progress=False), repeats)
    t_pyd = timeit(lambda: pydicom_scan(paths), repeats)
    return {
        "n_files": len(paths),
        "n_series": int(len(idx.series)),
        "unit": "files",
        "write_seconds": write_s,
        "write_files_per_second": len(paths) / write_s,
        "medwb": stats(t_medwb, len(paths)),
        "pydicom_loop": stats(t_pyd, len(paths)),
        "ratio_median": statistics.median(t_pyd) / statistics.median(t_medwb),
        "note": "medwb also groups series, checks geometry and reports problems; the loop only reads headers",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--scan-files", type=int, default=10_000)
    ap.add_argument("--scan-repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "dicom.json")
    args = ap.parse_args()
    import pydicom
    import SimpleITK as sitk

    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="medwb-bench-dicom-") as d:
        tmp = Path(d)
        results = {
            "uncompressed": bench_series("uncompressed", phantom(200), "explicit", args.repeats, 1.5, tmp),
            "rle": bench_series("rle", phantom(50), "rle", args.repeats, 10.0, tmp),
            "scan": bench_scan(args.scan_files, args.scan_repeats, tmp),
        }
    results["machine"] = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_1min_at_start": load1,
        "loadavg_1min_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "pydicom": pydicom.__version__,
        "SimpleITK": sitk.Version.VersionString(),
        "cache": "warm (files just written)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for key in ("uncompressed", "rle"):
        r = results[key]
        print(f"{key:13s} medwb {r['medwb']['per_second']['median']:6.2f} vol/s  "
              f"sitk {r['sitk']['per_second']['median']:6.2f} vol/s  ratio {r['ratio_median']:.2f}x "
              f"(range {r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}, target {r['target_ratio']}x: "
              f"{'met' if r['meets_target'] else 'NOT met'})")  # fmt: skip
    s = results["scan"]
    print(f"scan          medwb {s['medwb']['per_second']['median']:.0f} files/s  "
          f"pydicom loop {s['pydicom_loop']['per_second']['median']:.0f} files/s over {s['n_files']} files")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
