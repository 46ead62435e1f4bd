"""The course budget: every tutorial in notebooks/ together, as a class on Binder would run them.

Run:  .venv/bin/python bench/bench_course.py [--repeats 1] [--notebooks 01 04]
Writes bench/results/course.json.

Each notebook runs top to bottom in its own fresh kernel (medwb.report.execute_notebook: nbclient, the demo
cohort at MEDWB_DEMO_DIR, inline matplotlib), one after the other. Measured per notebook: wall time
(kernel start-up included), CPU time of the kernel's process tree, and its peak resident memory (psutil,
summed over the kernel and any process it spawns, sampled every 0.1 s); the slowest cells come from
nbclient's execution timestamps.
Baseline, measured in the same run: the floor every tutorial pays, a notebook whose only cell opens the
demo cohort (kernel start + `import medwb` + medwb.demo.load_cohort()).
Targets (issues 6 and 17): all notebooks together <= 300 s wall on 2 CPU cores, peak <= 2 GiB (the largest of
the kernels, since they run one at a time; a student who keeps all of them open adds them up). The notebooks
run here are the teacher's versions (the nbgrader source, solutions and hidden tests included): the student
release runs the same cells minus those, so it costs no more.
The machine may be shared: the 1-minute load average at start and end is recorded, and CPU seconds are a
steadier figure than wall time when it is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("MEDWB_DEMO_DIR", str(REPO / "data" / "demo"))

from medwb.report import execute_notebook, find_notebooks  # noqa: E402

TARGET_SECONDS = 300.0
TARGET_PEAK_BYTES = 2 * 2**30
EXPECTED = ("01", "02", "03", "04", "05", "06", "07")   # the course (issue 17: reader study, deep prognosis)


def stats(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "runs": xs}


def slowest_cells(nb, k: int = 3) -> list[dict]:
    rows = []
    for i, cell in enumerate(nb.cells):
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if cell.cell_type == "code" and start and end:
            secs = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                    - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            rows.append({"cell": i, "seconds": round(secs, 2), "source": first[:80]})
    return sorted(rows, key=lambda r: -r["seconds"])[:k]


def floor_notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import medwb\ncohort = medwb.demo.load_cohort()\nlen(cohort)")]
    path = folder / "00_floor.ipynb"
    nbformat.write(nb, path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--notebooks", nargs="*", default=None)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "course.json"))
    args = ap.parse_args()

    import medwb

    medwb.demo.load_cohort()  # built before timing (set-up / postBuild do this too)
    paths = find_notebooks(args.notebooks)
    load_start = os.getloadavg()[0]
    floor_s, floor_rss, per_nb, totals, cpu_totals, peaks = [], [], {}, [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        floor = floor_notebook(Path(tmp))
        for rep in range(args.repeats):
            run = execute_notebook(floor)
            assert run.ok, run.error
            floor_s.append(run.seconds)
            floor_rss.append(run.peak_rss)
            total = cpu = peak = 0.0
            for path in paths:
                run = execute_notebook(path)
                rec = per_nb.setdefault(path.name, {"seconds": [], "cpu_seconds": [], "peak_rss_bytes": [],
                                                    "ok": [], "errors": []})
                rec["seconds"].append(run.seconds)
                rec["cpu_seconds"].append(run.extra["cpu_seconds"])
                rec["peak_rss_bytes"].append(run.peak_rss)
                rec["ok"].append(run.ok)
                if run.error:
                    rec["errors"].append(run.error)
                rec["slowest_cells"] = slowest_cells(run.notebook)
                total, cpu, peak = total + run.seconds, cpu + run.extra["cpu_seconds"], max(peak, run.peak_rss)
                print(f"[{rep + 1}/{args.repeats}] {path.stem:<24} {run.seconds:7.1f} s wall "
                      f"{run.extra['cpu_seconds']:7.1f} s cpu {run.peak_rss / 2**20:7.0f} MiB "
                      f"{'ok' if run.ok else 'FAILED: ' + str(run.error)}", flush=True)
            totals.append(total)
            cpu_totals.append(cpu)
            peaks.append(int(peak))
    notebooks = {name: {"seconds": stats(r["seconds"]), "cpu_seconds": stats(r["cpu_seconds"]),
                        "peak_rss_bytes": stats(r["peak_rss_bytes"]), "all_ok": all(r["ok"]),
                        "errors": r["errors"], "slowest_cells": r["slowest_cells"]} for name, r in per_nb.items()}
    all_stems = [p.stem for p in find_notebooks()]
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "notebooks_run": [p.name for p in paths],
        "notebooks_expected": list(EXPECTED),
        "notebooks_missing": [n for n in EXPECTED if not any(s.startswith(n) for s in all_stems)],
        "repeats": args.repeats,
        "course_seconds": stats(totals),
        "course_cpu_seconds": stats(cpu_totals),
        "course_peak_rss_bytes": stats(peaks),
        "baseline_floor_seconds": stats(floor_s),
        "baseline_floor_peak_rss_bytes": stats(floor_rss),
        "ratio_course_to_floor": statistics.median(totals) / statistics.median(floor_s),
        "target_seconds": TARGET_SECONDS,
        "target_peak_rss_bytes": TARGET_PEAK_BYTES,
        "ratio_to_target_seconds": statistics.median(totals) / TARGET_SECONDS,
        "ratio_to_target_peak": max(peaks) / TARGET_PEAK_BYTES,
        "meets_target_seconds": statistics.median(totals) <= TARGET_SECONDS,
        "meets_target_peak": max(peaks) <= TARGET_PEAK_BYTES,
        "all_ok": all(n["all_ok"] for n in notebooks.values()),
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "notebooks": notebooks,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"course: {statistics.median(totals):.1f} s wall (target {TARGET_SECONDS:.0f}), "
          f"{statistics.median(cpu_totals):.1f} s cpu, peak {max(peaks) / 2**20:.0f} MiB "
          f"(target {TARGET_PEAK_BYTES / 2**20:.0f}); floor {statistics.median(floor_s):.1f} s; -> {out}")


if __name__ == "__main__":
    main()
