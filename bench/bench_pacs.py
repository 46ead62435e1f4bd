"""DICOMweb retrieval speed from a real local Orthanc: medwb vs raw HTTP fetching of the same frames.

Run:  .venv/bin/python bench/bench_pacs.py [--repeats 5] [--slices 120] [--size 512]
Writes bench/results/pacs.json. Needs the Debian packages orthanc + orthanc-dicomweb.

One CT series (default 120 x 512 x 512 int16, ~63 MB) is stored in a fresh Orthanc on 127.0.0.1, then,
interleaved in every repeat (each medwb run starts from an empty cache):

  medwb_series     DicomWebSource.load_series: QIDO instance list + one multipart WADO-RS request,
                   every instance written atomically into the cache, then medwb.io.dicom.load_series
                   → a Volume with geometry.
  medwb_instances  the same with one WADO-RS request per instance, 4 in parallel (the resume path).
  raw_frames       the floor: plain requests GETs of /frames/1 of every instance (application/octet-
                   stream, 4 threads, keep-alive), bytes → numpy int16 stacked in InstanceNumber order.
                   No cache, no files, no geometry, no checks.
  cache_hit        DicomWebSource.load_series on a complete cached series (no request at all).
  local_load       medwb.io.dicom.load_series of the original files (the baseline for cache_hit).

Targets: median(medwb_series) / median(raw_frames) <= 2.0; median(cache_hit) / median(local_load) <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medwb import Volume  # noqa: E402
from medwb.export.series import write_series  # noqa: E402
from medwb.io.dicom import load_series  # noqa: E402
from medwb.io.dicomweb import DicomWebSource  # noqa: E402
from medwb.io.dicomweb.orthanc import LocalOrthanc, find_orthanc  # noqa: E402


def phantom(n: int, size: int, seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot((yy - size / 2) / (0.42 * size), (xx - size / 2) / (0.36 * size))
    sl = np.full((size, size), -1000.0)
    sl[r < 1.0] = 1200.0
    sl[r < 0.92] = 35.0
    vol = np.repeat(sl[None], n, axis=0) + rng.normal(0, 8, size=(n, size, size))
    vol[:, r >= 1.0] = -1024
    return Volume.from_geometry(vol.astype(np.int16), spacing=(1.25, 0.5, 0.5), origin=(-128, -128, 0),
                                modality="CT")


def stats(times: list[float]) -> dict:
    return {"seconds": {"min": min(times), "median": statistics.median(times), "max": max(times)},
            "repeats": len(times)}


def raw_frames(pacs: LocalOrthanc, study: str, series: str, instances: list[tuple[int, str]],
               rows: int, cols: int) -> np.ndarray:
    import requests

    session = requests.Session()
    session.auth = pacs.auth
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=4)
    session.mount("http://", adapter)
    base = f"{pacs.dicomweb_url}/studies/{study}/series/{series}/instances"
    accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

    def one(sop: str) -> bytes:
        r = session.get(f"{base}/{sop}/frames/1", headers={"Accept": accept}, timeout=60)
        r.raise_for_status()
        body = r.content
        boundary = r.headers["Content-Type"].split("boundary=")[1].strip('"').encode()
        part = body.split(b"--" + boundary)[1]
        return part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")

    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(one, [sop for _, sop in sorted(instances)]))
    return np.stack([np.frombuffer(f, dtype="<i2").reshape(rows, cols) for f in frames])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slices", type=int, default=120)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pacs.json")
    args = ap.parse_args()
    _, why = find_orthanc()
    if why:
        sys.exit(f"cannot run: {why}")
    import requests

    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="medwb-bench-pacs-") as d:
        tmp = Path(d)
        vol = phantom(args.slices, args.size)
        order = np.random.default_rng(1).permutation(args.slices)
        files = write_series(vol, tmp / "series", uid_seed="bench-pacs", instance_order=order)
        with LocalOrthanc(tmp / "orthanc") as pacs:
            t0 = time.perf_counter()
            for f in files:
                requests.post(f"{pacs.url}/instances", data=f.read_bytes(), auth=pacs.auth,
                              timeout=60).raise_for_status()
            upload_s = time.perf_counter() - t0

            def source(cache: Path, workers: int = 4) -> DicomWebSource:
                return DicomWebSource(pacs.dicomweb_url, username=pacs.username, password=pacs.password,
                                      cache=cache, workers=workers, config_path=tmp / "none.json")

            found = source(tmp / "probe").search_series()
            study, series = found["study_uid"][0], found["series_uid"][0]
            listing = source(tmp / "probe").search_instances(study, series)
            instances = [(int(n), s) for n, s in zip(listing["instance_number"], listing["sop_uid"])]
            local = load_series(tmp / "series")
            assert np.array_equal(local.array, vol.array)
            # every path must give the same voxels before anything is timed
            got = source(tmp / "check").load_series(study, series, progress=False)
            assert np.array_equal(got.array, vol.array) and np.allclose(got.affine, vol.affine, atol=1e-4)
            raw = raw_frames(pacs, study, series, instances, args.size, args.size)
            by_number = np.asarray(order)  # InstanceNumber i+1 holds slice order[i]
            assert np.array_equal(raw, vol.array[by_number])

            times: dict[str, list[float]] = {k: [] for k in
                                             ("medwb_series", "medwb_instances", "raw_frames", "cache_hit",
                                              "local_load")}
            warm = source(tmp / "warm")
            warm.load_series(study, series, progress=False)
            for i in range(args.repeats + 1):  # the first round is a warm-up, not recorded
                runs = {
                    "medwb_series": lambda i=i: source(tmp / f"c{i}s").load_series(study, series, progress=False),
                    "medwb_instances": lambda i=i: load_series(source(tmp / f"c{i}i").retrieve(
                        study, series, mode="instances", progress=False).files),
                    "raw_frames": lambda: raw_frames(pacs, study, series, instances, args.size, args.size),
                    "cache_hit": lambda: warm.load_series(study, series, progress=False),
                    "local_load": lambda: load_series(tmp / "series"),
                }
                for name, fn in runs.items():
                    t = time.perf_counter()
                    fn()
                    if i:
                        times[name].append(time.perf_counter() - t)
                for c in (tmp / f"c{i}s", tmp / f"c{i}i"):
                    shutil.rmtree(c, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    mb = vol.array.nbytes / 1e6
    results = {
        "series": {"shape": list(vol.shape), "dtype": "int16", "megabytes": mb, "instances": len(files),
                   "transfer_syntax": "Explicit VR Little Endian", "upload_seconds": upload_s},
        **{k: {**stats(v), "megabytes_per_second": mb / med[k]} for k, v in times.items()},
        "ratio_series_vs_raw": med["medwb_series"] / med["raw_frames"],
        "ratio_instances_vs_raw": med["medwb_instances"] / med["raw_frames"],
        "ratio_cache_hit_vs_local_load": med["cache_hit"] / med["local_load"],
        "targets": {"ratio_series_vs_raw": 2.0, "ratio_cache_hit_vs_local_load": 1.2},
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "platform": platform.platform(), "loadavg_1min_at_start": load1,
                    "loadavg_1min_at_end": os.getloadavg()[0], "server": "Orthanc (Debian) + DICOMweb plugin, "
                    "127.0.0.1, HTTP basic auth"},
    }
    results["meets_targets"] = (results["ratio_series_vs_raw"] <= 2.0
                                and results["ratio_cache_hit_vs_local_load"] <= 1.2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for k in times:
        print(f"{k:16s} median {med[k]:.3f} s  ({mb / med[k]:.0f} MB/s)")
    print(f"series/raw {results['ratio_series_vs_raw']:.2f} (target <= 2.0); instances/raw "
          f"{results['ratio_instances_vs_raw']:.2f}; cache hit/local {results['ratio_cache_hit_vs_local_load']:.2f} "
          f"(target <= 1.2)")


if __name__ == "__main__":
    main()
