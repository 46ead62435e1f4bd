"""MRMC analysis speed: medwb.readers.mrmc (case jackknife by DeLong placement values) vs the plain loop
that recomputes every leave-one-case-out AUC.

Run:  .venv/bin/python bench/bench_readers.py [--repeats 5] [--readers 10] [--cases 500]
Writes bench/results/readers.json.

Case
  mrmc   a simulated study (Roe & Metz, seed 0) of 10 readers x 2 arms x 500 cases (40% diseased), rated
         on a 0-100 slider (ties). medwb: the whole mrmc() call (input checks, AUCs, jackknife covariance,
         OR/Hillis RRRC test). Baseline: the plain loop: for every reader x arm and every case left out,
         the empirical AUC recomputed from all diseased x non-diseased pairs (numpy-vectorised per AUC),
         then the same covariance. Both covariances must agree to 1e-12 before anything is timed.
         Target: mrmc() well under one second (<= 0.25 s median) and >= 20x faster than the loop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medwb.readers import mrmc, simulate_study  # noqa: E402
from medwb.readers.metrics import ratings_cube  # noqa: E402


def stats(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "runs": xs}


def loop_covariance(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The plain way: every leave-one-case-out AUC recomputed from all pairs."""
    n_mod, n_rdr, n_cases = scores.shape
    loo = np.empty((n_mod * n_rdr, n_cases))
    for idx in range(n_mod * n_rdr):
        x = scores.reshape(n_mod * n_rdr, n_cases)[idx]
        for k in range(n_cases):
            keep = np.arange(n_cases) != k
            pos, neg = x[keep & truth], x[keep & ~truth]
            diff = pos[:, None] - neg[None, :]
            loo[idx, k] = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    d = loo - loo.mean(axis=1, keepdims=True)
    return (n_cases - 1) / n_cases * (d @ d.T)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--cases", type=int, default=500)
    args = ap.parse_args()
    df = simulate_study(n_readers=args.readers, n_cases=args.cases, scale="0-100", seed=0)
    cube = ratings_cube(df)
    res = mrmc(df)
    cov_loop = loop_covariance(cube.scores, cube.truth)
    agree = float(np.abs(res.covariance - cov_loop).max())
    assert agree < 1e-12, agree
    load0 = os.getloadavg()
    fast, slow = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        mrmc(df)
        fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        loop_covariance(cube.scores, cube.truth)
        slow.append(time.perf_counter() - t)
    out = {
        "case": f"{args.readers} readers x 2 arms x {args.cases} cases, 0-100 ratings",
        "medwb_mrmc_s": stats(fast), "plain_loop_jackknife_s": stats(slow),
        "speedup_median": statistics.median(slow) / statistics.median(fast),
        "max_abs_covariance_difference": agree,
        "target": "mrmc median <= 0.25 s and >= 20x the loop",
        "met": statistics.median(fast) <= 0.25 and statistics.median(slow) / statistics.median(fast) >= 20,
        "loadavg_start_end": [load0, os.getloadavg()], "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    path = REPO / "bench" / "results" / "readers.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("medwb_mrmc_s", "plain_loop_jackknife_s")},
                     indent=2))
    print(f"mrmc median {statistics.median(fast) * 1e3:.1f} ms; loop median {statistics.median(slow):.2f} s")


if __name__ == "__main__":
    main()
