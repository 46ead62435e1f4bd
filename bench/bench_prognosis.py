"""Deep prognosis on the demo cohort: training time, a patient's prediction + explanation, peak memory,
and the honest comparison table with the truth checks (issue 16).

Run:  .venv/bin/python bench/bench_prognosis.py [--epochs 20] [--repeats 5] [--folds 5] [--boot 200] [--no-compare]
Writes bench/results/prognosis.json.

Cases
  data      survival_data(cohort): 160 demo CTs read from DICOM and preprocessed (brain window, 4 mm,
            32 x 48 x 48). Reported; not part of the training target.
  train     fit_prognosis(data, "fusion") with the defaults (20 epochs, batches of 16, Cox partial
            likelihood from torchsurv) on all 160 cases. Target: <= 180 s on 2 CPU cores. Baseline in
            the same run: the compute floor, the same number of forward + backward passes of the bare
            SurvivalNet over the same tensors (no loss, no augmentation, no optimiser).
  patient   one patient's survival curve with its band (30 MC-dropout draws) + medwb.explain(..., "integrated_gradients",
            target=Risk(...)) (32 steps) + clinical attributions, from a Volume already in memory. Target:
            <= 1 s (median over patients). Floor: one forward pass.
  CPU time (process_time, all threads) is recorded beside each wall time: the machine is shared, and the
  load average at start and end says how much.
  memory    peak resident memory of this process (ru_maxrss) after everything above. Target: <= 2 GiB.
  truth     the checks on the trained network: implied hazard ratios, covariate order, lesion localisation.
  compare   compare_prognosis: 4 models x ``--folds`` folds, ``--boot`` bootstrap resamples. Its networks train
            on ``--compare-grid`` (default 6 mm, 24 x 32 x 32, as the tests) for ``--compare-epochs`` (12):
            ten networks at 4 mm take about an hour on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def stats(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "runs": xs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--compare-grid", default="6,24,32,32", help="spacing mm, shape of the comparison's networks")
    ap.add_argument("--compare-epochs", type=int, default=12)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "prognosis.json"))
    args = ap.parse_args()

    import torch

    import medwb
    import medwb.demo
    from medwb.survival.deep import (
        Risk,
        compare_prognosis,
        covariate_order,
        explain_clinical,
        fit_prognosis,
        implied_hazard_ratios,
        lesion_localisation,
        survival_data,
    )
    from medwb.survival.deep.compare import lesion_features
    from medwb.survival.deep.net import SurvivalNet

    torch.set_num_threads(2)
    out: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                             "load_average_start": os.getloadavg()}}

    def save() -> None:  # after every stage, so that a long comparison never loses the rest
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out["memory"] = {"peak_rss_bytes": peak, "peak_rss_gib": peak / 2**30, "target_gib": 2.0,
                         "meets_target": peak <= 2 * 2**30}
        out["machine"]["load_average_end"] = os.getloadavg()
        Path(args.out).write_text(json.dumps(out, indent=2, default=float))

    cohort = medwb.demo.load_cohort()
    t0 = time.perf_counter()
    data = survival_data(cohort, progress=False)
    out["data"] = {"n": len(data), "events": int(data.event.sum()), "shape": list(data.images.shape[2:]),
                   "seconds": time.perf_counter() - t0}

    t0, c0 = time.perf_counter(), time.process_time()
    model = fit_prognosis(data, "fusion", epochs=args.epochs, progress=False, seed=0)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    net = SurvivalNet(len(data.clinical_columns), width=model.net.config["width"])
    z = model.clinical_tensor(data.clinical)
    t0 = time.perf_counter()
    net.train()
    for _ in range(args.epochs):
        for s in range(0, len(data), 16):
            net(data.images[s:s + 16], z[s:s + 16]).sum().backward()
    floor_s = time.perf_counter() - t0
    out["train"] = {"epochs": args.epochs, "seconds": train_s, "cpu_seconds": train_cpu, "floor_seconds": floor_s,
                    "ratio_to_floor": train_s / floor_s, "target_seconds": 180, "meets_target": train_s <= 180}

    table = cohort.table.set_index("case_id")
    ids = [c for c in cohort.case_ids if table.loc[c, "n_lesions"] > 0][: args.repeats]
    times, floors, cpus = [], [], []
    for cid in ids:
        vol, row = cohort.volume(cid), table.loc[cid]
        t0, c0 = time.perf_counter(), time.process_time()
        model.survival_curve(vol, row)
        medwb.explain(model, vol, "integrated_gradients", target=Risk(row))
        explain_clinical(model, vol, row)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        t0 = time.perf_counter()
        model.risk(vol, row)
        floors.append(time.perf_counter() - t0)
    out["patient"] = {"seconds": stats(times), "cpu_seconds": stats(cpus), "floor_forward_seconds": stats(floors),
                      "target_seconds": 1.0,
                      "meets_target": statistics.median(times) <= 1.0}
    save()

    hr = implied_hazard_ratios(model, data, cohort.table)
    order = covariate_order(model, data, cohort.table)
    lesion_ids = [c for c in cohort.case_ids if table.loc[c, "n_lesions"] > 0][:24]
    loc = lesion_localisation(model, cohort, lesion_ids, progress=False)
    out["truth"] = {
        "implied_hazard_ratios": hr[["hr", "hr_lower", "hr_upper", "true_hr", "covered"]].astype(float).round(4)
        .to_dict(orient="index"),
        "covariate_order": order[["network", "truth", "network_rank", "truth_rank"]].round(4).to_dict(orient="index"),
        "localisation": {"cases": len(loc), "mass_in_mask_mean": float(loc["mass_in_mask"].mean()),
                         "random_mass_mean": float(loc["random_mass"].mean()),
                         "enrichment_median": float(loc["enrichment"].median())},
    }
    save()
    print(json.dumps({k: v for k, v in out.items() if k != "compare"}, indent=1, default=float)[:4000], flush=True)
    if not args.no_compare:
        t0 = time.perf_counter()
        from medwb.models import Preprocess

        sp, *shape = (float(v) for v in args.compare_grid.split(","))
        cdata = survival_data(cohort, preprocess=Preprocess("brain", sp, tuple(int(v) for v in shape)), progress=False)
        res = compare_prognosis(cdata, lesion_features(cohort, progress=False), n_splits=args.folds,
                                n_boot=args.boot, deep={"epochs": args.compare_epochs}, progress=False)
        out["compare"] = {"folds": args.folds, "n_boot": args.boot, "seconds": time.perf_counter() - t0,
                          "grid": {"spacing_mm": sp, "shape": shape}, "epochs": args.compare_epochs,
                          "table": res.table.round(4).to_dict(orient="index"),
                          "summary": res.summary().to_dict(orient="index"), "notes": res.notes}
    save()
    if "compare" in out:
        print(res.summary().to_string())


if __name__ == "__main__":
    main()
