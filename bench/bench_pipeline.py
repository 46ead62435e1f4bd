"""Benchmark medwb.pipeline: the cohort pipeline on 1 Dask worker against 2 workers, same run, same data.

Each run is load → preprocess (brain window, 3 mm, 64³) → predict → explain → features on every case
of a demo cohort, with a seeded TeachingNet3D (width 16) from a checkpoint, on a LocalCluster of worker
processes with one thread each (so 1 worker = 1 core's worth of work). Clusters are started and warmed
(torch imported, the model built) outside the timer. Runs alternate 1,2,2,1,... so a change in machine
load hits both sides. Target: 2 workers >= 1.8x faster than 1 worker. Also reported: the peak resident
memory of each worker process (ru_maxrss), seconds per case, and a check that both runs gave identical
predictions and attribution files.

Usage:
    python bench/bench_pipeline.py                        # 200 cases, 2 repeats (~15-20 min on 2 cores)
    python bench/bench_pipeline.py --n-cases 40 --repeats 1   # a quick look
    python bench/bench_pipeline.py --mode gpu --n-cases 40 --method integrated_gradients   # lent GPU (bench/gpu.sh):
        in-process pipeline (predict + explain, 128³ input) on CUDA, batched and pinned, against the CPU;
        writes bench/results/pipeline_gpu.json
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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = 1.8


def stats(xs):
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "runs": xs}


def load1():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run_once(cohort, ckpt, n_workers, out_dir, args):
    from medwb.pipeline import local_client, run_pipeline

    kw = dict(explain_method=args.method, device=args.device, batch_size=args.batch_size, progress=False)
    with local_client(n_workers, threads_per_worker=1, memory_limit=args.memory_limit) as client:
        warm = cohort.case_ids[: n_workers * 2]  # import torch and build the model on every worker
        run_pipeline(cohort, ckpt, out_dir=Path(out_dir) / "warmup", case_ids=warm, client=client, **kw)
        t = time.perf_counter()
        res = run_pipeline(cohort, ckpt, out_dir=out_dir, client=client, **kw)
        wall = time.perf_counter() - t
    per_worker = res.results.groupby("worker")["worker_peak_rss_mb"].max()
    return wall, res, {"peak_rss_mb_per_worker": sorted(per_worker.round(1).tolist()),
                       "cases_per_worker": res.results["worker"].value_counts().sort_index().tolist()}


def gpu_mode(args):
    """In-process pipeline on CUDA (batched, pinned) against the same pipeline on this machine's CPU."""
    import torch

    import medwb.demo
    from medwb.models import Preprocess, TeachingNet3D, save_checkpoint, seed_everything
    from medwb.pipeline import run_pipeline

    if not torch.cuda.is_available():
        sys.exit("--mode gpu needs a CUDA GPU visible to torch")
    tmp = Path(tempfile.mkdtemp(prefix="medwb_bench_pipeline_gpu_"))
    try:
        cohort = medwb.demo.build_cohort(Path(args.cohort_dir) if args.cohort_dir else tmp / "cohort",
                                         n_cases=args.n_cases, seed=0, progress=False)
        seed_everything(0)
        ckpt = save_checkpoint(tmp / "net.pt", TeachingNet3D(width=16).eval(),
                               preprocess=Preprocess(spacing=args.spacing, shape=(args.size,) * 3), seed=0)
        kw = dict(explain_method=args.method, progress=False, steps=("predict", "explain"))
        warm = cohort.case_ids[:2]
        out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "n_cases": len(cohort),
               "input": [args.size] * 3, "explain_method": args.method, "cpu_threads": torch.get_num_threads()}
        walls = {}
        for dev, bs, det in (("cpu", 1, True), ("cuda", args.batch_size or 8, True), ("cuda", args.batch_size or 8, False)):
            name = f"{dev}{'' if det else '_nondeterministic'}"
            run_pipeline(cohort, ckpt, out_dir=tmp / f"warm_{name}", case_ids=warm, device=dev, batch_size=bs,
                         deterministic=det, **kw)
            torch.cuda.reset_peak_memory_stats()
            ts = []
            for r in range(args.repeats):
                t = time.perf_counter()
                res = run_pipeline(cohort, ckpt, out_dir=tmp / f"{name}_{r}", device=dev, batch_size=bs,
                                   deterministic=det, **kw)
                torch.cuda.synchronize()
                ts.append(time.perf_counter() - t)
            walls[name] = ts
            out[name] = {"batch_size": bs, "deterministic": det, "wall_s": stats(ts),
                         "s_per_case": statistics.median(ts) / len(cohort), "n_failed": int(len(res.failures)),
                         "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda" else None}
            out[name]["_res"] = res
        cpu, gpu = out["cpu"].pop("_res"), out["cuda"].pop("_res")
        out["cuda_nondeterministic"].pop("_res")
        out["max_abs_prob_difference_cpu_vs_cuda"] = float(np.max(np.abs(cpu.results["prob"] - gpu.results["prob"])))
        out["attribution_correlation_min"] = float(min(
            np.corrcoef(np.asarray(cpu.attribution(c)).ravel(), np.asarray(gpu.attribution(c)).ravel())[0, 1]
            for c in cpu.ok["case_id"][:10]))
        out["speedup_cuda_vs_cpu"] = statistics.median(walls["cpu"]) / statistics.median(walls["cuda"])
        out["speedup_cuda_nondeterministic_vs_cpu"] = (statistics.median(walls["cpu"])
                                                       / statistics.median(walls["cuda_nondeterministic"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"pipeline CUDA vs CPU ({out['cpu_threads']} threads): {out['speedup_cuda_vs_cpu']:.1f}x "
          f"(non-deterministic: {out['speedup_cuda_nondeterministic_vs_cpu']:.1f}x); wrote {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-cases", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--method", default="saliency")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--memory-limit", default="4GiB")
    ap.add_argument("--cohort-dir", default=None, help="reuse/build the demo cohort here (default: a temp dir)")
    ap.add_argument("--mode", choices=("workers", "gpu"), default="workers",
                    help="workers: 1 vs 2 Dask workers (CPU); gpu: in-process CUDA vs CPU")
    ap.add_argument("--size", type=int, default=128, help="--mode gpu: model input edge (voxels)")
    ap.add_argument("--spacing", type=float, default=1.5, help="--mode gpu: model voxel size (mm)")
    ap.add_argument("--out", default=None, help="default bench/results/pipeline.json (gpu: pipeline_gpu.json)")
    args = ap.parse_args()
    if args.out is None:
        name = "pipeline.json" if args.mode == "workers" else "pipeline_gpu.json"
        args.out = str(Path(__file__).parent / "results" / name)
    if args.mode == "gpu":
        return gpu_mode(args)

    import medwb.demo
    from medwb.models import Preprocess, TeachingNet3D, save_checkpoint, seed_everything

    tmp = Path(tempfile.mkdtemp(prefix="medwb_bench_pipeline_"))
    cohort_dir = Path(args.cohort_dir) if args.cohort_dir else tmp / "cohort"
    load_start = load1()
    t = time.perf_counter()
    cohort = medwb.demo.build_cohort(cohort_dir, n_cases=args.n_cases, seed=0, progress=False)
    build_s = time.perf_counter() - t
    seed_everything(0)
    ckpt = save_checkpoint(tmp / "net.pt", TeachingNet3D(width=16).eval(), preprocess=Preprocess(), seed=0)

    walls = {1: [], 2: []}
    extra = {1: [], 2: []}
    last = {}
    try:
        for r in range(args.repeats):
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                out_dir = tmp / f"run_{n}w_{r}"
                wall, res, info = run_once(cohort, ckpt, n, out_dir, args)
                walls[n].append(wall)
                extra[n].append(info | {"n_failed": int(len(res.failures)), "load_average_1min_after": load1()})
                print(f"repeat {r}: {n} worker(s): {wall:.1f} s ({wall / len(cohort):.2f} s/case), "
                      f"peak RSS per worker {info['peak_rss_mb_per_worker']} MB", flush=True)
                if n in last:
                    shutil.rmtree(last[n].out_dir, ignore_errors=True)
                last[n] = res
        a, b = last[1], last[2]
        same_prob = a.results["prob"].fillna(-1).tolist() == b.results["prob"].fillna(-1).tolist()
        same_attr = all(np.load(a.out_dir / p).tobytes() == np.load(b.out_dir / q).tobytes()
                        for p, q in zip(a.results["attribution_path"].dropna()[:20],
                                        b.results["attribution_path"].dropna()[:20]))
        paired = [w1 / w2 for w1, w2 in zip(walls[1], walls[2])]
        ratio = statistics.median(paired)
        result = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "pipeline": {
                "n_cases": len(cohort), "cohort_build_s": round(build_s, 1), "steps": list(a.run["params"]["steps"]),
                "explain_method": args.method, "model": "TeachingNet3D(width=16), seeded, untrained",
                "preprocess": a.run.get("preprocess"), "device": args.device,
                "memory_limit_per_worker": args.memory_limit, "threads_per_worker": 1,
                "one_worker_s": stats(walls[1]), "two_workers_s": stats(walls[2]),
                "one_worker_s_per_case": statistics.median(walls[1]) / len(cohort),
                "two_workers_s_per_case": statistics.median(walls[2]) / len(cohort),
                "speedup_paired_median": ratio, "speedup_paired": paired,
                "speedup_of_medians": statistics.median(walls[1]) / statistics.median(walls[2]),
                "target_speedup": TARGET, "meets_target": ratio >= TARGET,
                "one_worker_runs": extra[1], "two_worker_runs": extra[2],
                "peak_rss_mb_per_worker_max": max(max(e["peak_rss_mb_per_worker"]) for e in extra[1] + extra[2]),
                "identical_predictions_1_vs_2_workers": same_prob,
                "identical_attribution_files_1_vs_2_workers_first20": same_attr,
                "load_average_1min_start": load_start, "load_average_1min_end": load1(),
                "note": "2 workers on 2 cores can reach 2x only on an otherwise idle machine; the load "
                        "averages show how busy it was (other processes take cores from the 2-worker run).",
            },
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    p = result["pipeline"]
    print(f"speed-up 2 vs 1 worker: {p['speedup_paired_median']:.2f}x (target {TARGET}x); "
          f"peak RSS per worker <= {p['peak_rss_mb_per_worker_max']:.0f} MB; identical: {same_prob and same_attr}; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
