"""Benchmark medwb.explain against its compute floor and against MONAI, on this machine (CPU by default).

* Integrated Gradients: wall time of explain(..., n_steps) against the floor measured in the same run
  (n_steps / batch × one forward+backward at the batch explain chose); target ratio <= 1.15. Peak RSS.
* 3D occlusion (window 16³, stride 8, constant 0 baseline): explain() (Captum Occlusion) against MONAI's
  OcclusionSensitivity at the same map resolution (mask_size 16, overlap 0.5, mode 0.0); the issue's
  target is >= 3x faster. Without MONAI a naive hand-written sliding window is the baseline.
* Grad-CAM: explain() (Captum LayerGradCam) against MONAI GradCAM and a hook-based implementation (MONAI's
  default normaliser inverts the map, (min, max) -> (1, 0): undone before comparing); the
  maps are compared after min-max normalisation.

* Quality (--only quality, written to bench/results/explain_quality.json): on the demo cohort's course
  model (medwb.teaching.course_model) and its test cases with a lesion, per method: localisation AUC,
  mass in lesion, pointing game, deletion and insertion AUC with the in-distribution "blurred"
  reference (probability), and the randomisation end value (|Spearman| with every layer random), next
  to three reference maps: the true lesion mask, the windowed CT brightness (no model) and a random map.
* Removal modes (--only removal, the "deletion_by_removal" entry of explain_quality.json): deletion and
  insertion AUC of the true mask, the good map (occlusion w12 s6 blurred), brightness and random maps on
  the same cases, removing voxels by the "blurred" reference or by ROAD's noisy linear imputation
  (removal="impute"), with the seconds each pair of curves took.

Usage: python bench/bench_explain.py [--device cpu|cuda] [--size 64] [--repeats 3] [--out PATH]
       [--only ig|occlusion|gradcam|quality|removal] [--cases N]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medwb.attribution import explain  # noqa: E402
from medwb.models import TeachingNet3D, seed_everything  # noqa: E402


def stats(xs):
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def timed(fn, repeats, sync):
    out, ts = None, []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        ts.append(time.perf_counter() - t)
    return ts, out


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Counter:
    """Counts examples through the model's forward (a hook on the top module)."""

    def __init__(self, net):
        self.n = 0
        self.h = net.register_forward_hook(self)

    def __call__(self, _m, inputs, _o):
        self.n += int(inputs[0].shape[0])

    def take(self, fn):
        self.n = 0
        fn()
        return self.n


def hook_gradcam(net, layer, x, target):
    store = {}
    h1 = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    h2 = layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("g", go[0]))
    try:
        net.zero_grad()
        net(x)[0, target].backward()
    finally:
        h1.remove()
        h2.remove()
    cam = torch.relu((store["g"].mean(dim=(2, 3, 4), keepdim=True) * store["a"]).sum(1, keepdim=True))
    return torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="trilinear", align_corners=False)


def naive_occlusion(net, x, target, window, stride, batch):
    """Hand-written sliding window: f(x) - f(occluded), averaged over the windows covering each voxel."""
    with torch.no_grad():
        ref = net(x)[0, target]
        acc = torch.zeros_like(x)
        cnt = torch.zeros_like(x)
        n = x.shape[2:]
        starts = [range(0, n[d] - window + 1, stride) for d in range(3)]
        boxes = [(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]]
        for i in range(0, len(boxes), batch):
            chunk = boxes[i:i + batch]
            xs = x.repeat(len(chunk), 1, 1, 1, 1)
            for j, (a, b, c) in enumerate(chunk):
                xs[j, :, a:a + window, b:b + window, c:c + window] = 0
            d = ref - net(xs)[:, target]
            for j, (a, b, c) in enumerate(chunk):
                acc[0, :, a:a + window, b:b + window, c:c + window] += d[j]
                cnt[0, :, a:a + window, b:b + window, c:c + window] += 1
    return acc / cnt.clamp_min(1)


def demo_training(folder, dev):
    """Teaching net on the demo cohort's own train/test split: wall time (preprocessing included) and AUC."""
    from medwb.cohort import Cohort
    from medwb.models import CohortDataset, Preprocess, evaluate, train

    cohort = Cohort.from_manifest(folder / "manifest.csv")
    t0 = time.perf_counter()
    tr = cohort.subset(cohort.table["split"] == "train")
    te = cohort.subset(cohort.table["split"] == "test")
    seed_everything(0)
    net = TeachingNet3D()
    h = train(net, tr, epochs=25, batch_size=8, seed=0, preprocess=Preprocess(), early_stopping=None,
              device=dev, progress=False)
    train_s = time.perf_counter() - t0
    m = evaluate(net, CohortDataset(te, preprocess=Preprocess()), device=dev, progress=False)
    print(f"demo training: {train_s:.0f}s, held-out AUC {m['auc']:.3f} (n={m['n']})")
    return {"n_train": len(tr), "n_test": len(te), "epochs": len(h), "seconds_including_preprocessing": train_s,
            "median_epoch_seconds": float(h["seconds"].median()), "test": m, "target_auc": 0.9,
            "target_seconds": 120.0, "meets_target": m["auc"] >= 0.9 and train_s <= 120.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--demo", default=None,
                    help="a built demo cohort folder: also time training to the held-out AUC target")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "explain.json"))
    ap.add_argument("--cases", type=int, default=6, help="quality: test cases with a lesion to evaluate")
    ap.add_argument("--only", choices=["ig", "occlusion", "gradcam", "quality", "removal"], default=None,
                    help="run one part and update only its entry in --out (the other entries are kept)")
    args = ap.parse_args()
    if args.only == "quality":
        quality(args)
        return
    if args.only == "removal":
        removal_modes(args)
        return
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    seed_everything(0)
    net = TeachingNet3D().to(dev).eval()
    with torch.no_grad():  # non-default BatchNorm statistics, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    s = args.size
    rng = np.random.default_rng(0)
    vol = np.clip(rng.normal(0.4, 0.15, (s, s, s)), 0, 1).astype(np.float32)
    x = torch.from_numpy(vol)[None, None].to(dev)
    result = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)},
              "input": [s, s, s], "model": "TeachingNet3D(width=16)",
              "load_average_at_start": list(__import__("os").getloadavg())}

    if args.only in (None, "ig"):
        integrated_gradients(args, net, vol, x, dev, sync, result)
    if args.only in (None, "occlusion"):
        occlusion(args, net, vol, x, dev, sync, result)
    if args.only in (None, "gradcam"):
        gradcam(args, net, vol, x, dev, sync, result)
    if args.demo:
        result["demo_training"] = demo_training(Path(args.demo), dev)
    result["load_average_at_end"] = list(__import__("os").getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.only and out.exists():
        old = json.loads(out.read_text())
        old.update(result)
        result = old
    out.write_text(json.dumps(result, indent=2, default=float))
    print(f"wrote {out}")


def integrated_gradients(args, net, vol, x, dev, sync, result):
    explain(net, vol, "ig", 1, n_steps=4, device=dev)  # warm-up
    rss0 = rss_mib()
    a = explain(net, vol, "integrated_gradients", 1, n_steps=args.steps, device=dev)
    ibs = a.params["internal_batch_size"]
    xb = x.repeat(ibs, 1, 1, 1, 1).requires_grad_(True)

    def fwd_bwd():
        out = net(xb)[:, 1].sum()
        (g,) = torch.autograd.grad(out, xb)
        return g

    ig_ts, floor = [], []
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits both alike
        t, a = timed(lambda: explain(net, vol, "integrated_gradients", 1, n_steps=args.steps, device=dev), 1, sync)
        ig_ts += t
        fb, _ = timed(lambda: [fwd_bwd() for _ in range(args.steps // ibs)], 1, sync)
        floor += fb
    ratio = statistics.median(ig_ts) / statistics.median(floor)
    result["integrated_gradients"] = {
        "n_steps": args.steps, "internal_batch_size": ibs, "seconds": stats(ig_ts), "floor_seconds": stats(floor),
        "ratio_to_floor": ratio, "ratio_of_minima": min(ig_ts) / min(floor), "target_ratio": 1.15, "meets_target": ratio <= 1.15,
        "relative_delta": a.relative_delta, "peak_rss_mib_before": rss0, "peak_rss_mib_after": rss_mib()}
    print(f"IG {args.steps} steps: {statistics.median(ig_ts):.2f}s, floor {statistics.median(floor):.2f}s "
          f"(batch {ibs}) ratio {ratio:.3f}; peak RSS {rss_mib():.0f} MiB")



def occlusion(args, net, vol, x, dev, sync, result):
    # explain() and the baseline alternate, so that load from other processes hits both alike; the
    # speedup's spread is the min/median/max over the per-pair ratios
    def ours():
        return explain(net, vol, "occlusion", 1, window=16, stride=8, device=dev)

    occ = ours()  # warm-up
    ppe = occ.params["perturbations_per_eval"]
    try:
        from monai.visualize import OcclusionSensitivity

        ms = OcclusionSensitivity(net, mask_size=16, n_batch=ppe, verbose=False, mode=0.0, overlap=0.5,
                                  activate=False)
        name = "monai.visualize.OcclusionSensitivity"

        def base():
            return ms(x)
    except ImportError:
        name = "naive sliding window (MONAI not installed)"

        def base():
            return naive_occlusion(net, x, 1, 16, 8, ppe)
    occ_ts, m_ts = [], []
    for _ in range(args.repeats):
        t, occ = timed(ours, 1, sync)
        occ_ts += t
        t, _ = timed(base, 1, sync)
        m_ts += t
    pair = [m / o for m, o in zip(m_ts, occ_ts)]
    entry = {"window": 16, "stride": 8, "perturbations_per_eval": ppe, "engine": occ.params["occlusion_engine"],
             "trunk": occ.params["occlusion_trunk"], "windows": occ.params["windows"],
             "windows_evaluated": occ.params["windows_evaluated"], "windows_per_call": occ.params["windows_per_call"],
             "medwb_seconds": stats(occ_ts), "baseline": name, "baseline_seconds": stats(m_ts),
             "speedup_per_pair": stats(pair)}
    counter = Counter(net)
    entry["model_examples_medwb"] = counter.take(lambda: explain(net, vol, "occlusion", 1, window=16, stride=8,
                                                                 device=dev))
    if entry["baseline"].startswith("monai"):
        entry["model_examples_baseline"] = counter.take(lambda: ms(x))
    counter.h.remove()
    n_ts, naive = timed(lambda: naive_occlusion(net, x, 1, 16, 8, ppe), 1, sync)
    entry["max_abs_diff_vs_naive"] = float((naive[0, 0].cpu() - torch.from_numpy(occ.array)).abs().max())
    from captum.attr import Occlusion

    from medwb.attribution.targets import ScoreModel

    cap = Occlusion(ScoreModel(net).eval()).attribute(x, sliding_window_shapes=(1, 16, 16, 16), strides=(1, 8, 8, 8),
                                                      baselines=torch.zeros_like(x), target=1,
                                                      perturbations_per_eval=ppe)
    entry["max_abs_diff_vs_captum"] = float((cap[0, 0].cpu() - torch.from_numpy(occ.array)).abs().max())
    entry["max_abs_captum"] = float(cap.abs().max())
    entry["speedup"] = statistics.median(m_ts) / statistics.median(occ_ts)
    entry["target_speedup"] = 3.0
    entry["meets_target"] = entry["speedup"] >= 3.0
    result["occlusion"] = entry
    print(f"occlusion: medwb {statistics.median(occ_ts):.2f}s vs {entry['baseline']} "
          f"{statistics.median(m_ts):.2f}s: {entry['speedup']:.2f}x")



def gradcam(args, net, vol, x, dev, sync, result):
    explain(net, vol, "gradcam", 1, device=dev)
    g_ts, g = timed(lambda: explain(net, vol, "gradcam", 1, device=dev), max(5, args.repeats), sync)
    layer = dict(net.named_modules())[g.params["layer"]]
    h_ts, hmap = timed(lambda: hook_gradcam(net, layer, x, 1), max(5, args.repeats), sync)
    entry = {"layer": g.params["layer"], "medwb_seconds": stats(g_ts), "hook_seconds": stats(h_ts),
             "max_abs_diff_vs_hook": float((hmap[0, 0].detach().cpu() - torch.from_numpy(g.array)).abs().max())}
    try:
        from monai.visualize import GradCAM

        cam = GradCAM(net, target_layers=g.params["layer"])  # MONAI's defaults, as a user would call it
        c_ts, cmap = timed(lambda: cam(x, class_idx=1), max(5, args.repeats), sync)
        # MONAI's default normaliser maps (min, max) to (1, 0): it inverts the map. Undo it (1 - map) before
        # comparing with ours scaled to [0, 1]; and compare the raw maps with an identity post-processing.
        ours = g.array - g.array.min()
        ours = ours / (ours.max() or 1.0)
        monai_map = 1.0 - cmap[0, 0].detach().cpu().numpy()
        raw = GradCAM(net, target_layers=g.params["layer"], postprocessing=lambda t: t)(x, class_idx=1)
        raw = raw[0, 0].detach().cpu().numpy()
        entry.update(monai_seconds=stats(c_ts), speedup_vs_monai=statistics.median(c_ts) / statistics.median(g_ts),
                     monai_normaliser="maps (min, max) to (1, 0); undone as 1 - map before comparing",
                     max_abs_diff_vs_monai_normalised=float(np.abs(monai_map - ours).max()),
                     max_abs_diff_vs_monai_raw=float(np.abs(raw - g.array).max()),
                     max_abs_medwb=float(np.abs(g.array).max()))
    except ImportError:
        entry["monai"] = "not installed"
    entry["load_average"] = list(__import__("os").getloadavg())  # timings are only comparable at similar load
    result["gradcam"] = entry
    print(f"Grad-CAM: medwb {statistics.median(g_ts) * 1000:.0f} ms, hook {statistics.median(h_ts) * 1000:.0f} ms"
          + (f", MONAI {statistics.median(c_ts) * 1000:.0f} ms" if "monai_seconds" in entry else ""))


#: the methods and settings compared for explanation quality (name -> explain() keywords)
QUALITY_METHODS = {
    "gradcam": dict(method="gradcam"),
    "occlusion w12 s6, blurred": dict(method="occlusion", window=12, stride=6, baseline="blurred"),
    "occlusion w16 s8, zeros": dict(method="occlusion", window=16, stride=8, baseline="zeros"),
    "integrated_gradients, blurred": dict(method="integrated_gradients", baseline="blurred", n_steps=16),
    "integrated_gradients, zeros": dict(method="integrated_gradients", baseline="zeros", n_steps=16),
    "smoothgrad n32": dict(method="smoothgrad", n_samples=32),
    "saliency": dict(method="saliency"),
}


def quality(args):
    """Explanation quality of each method on the demo's truth (see the module docstring)."""
    import os
    import warnings

    import pandas as pd
    from tqdm.auto import tqdm

    import medwb
    from medwb.attribution import deletion_insertion, localisation, randomisation_check
    from medwb.masks import mask_on_grid
    from medwb.teaching import course_model, course_split

    warnings.simplefilter("ignore")  # IG completeness warnings of random nets etc.: not the point here
    t0 = time.perf_counter()
    cohort = medwb.demo.load_cohort()
    _, test = course_split(cohort)
    net, pp, info = course_model(cohort, progress=False)
    ids = [c for c in test.case_ids if test.row(c)["label"] == 1 and test.row(c)["n_lesions"] >= 1][: args.cases]
    rows = []
    for cid in tqdm(ids, desc="quality"):
        vol, truth = test.volume(cid), test.mask(cid)
        lesion = truth.with_array((truth.array == medwb.demo.LABEL_LESION).astype(np.uint8))
        maps = {}
        for name, kw in QUALITY_METHODS.items():
            t = time.perf_counter()
            maps[name] = explain(net, vol, target=1, preprocess=pp, **kw)
            maps[name].params["seconds"] = time.perf_counter() - t
        ref = maps["gradcam"]
        rng = np.random.default_rng(0)
        maps["(true lesion mask)"] = ref.with_maps(lesion.array, mask_on_grid(lesion, ref.model_input).array,
                                                   method="mask")
        maps["(brightness: windowed CT, no model)"] = ref.with_maps(pp.intensity(vol.array), ref.model_input.array,
                                                                    method="brightness")
        maps["(random map)"] = ref.with_maps(rng.random(vol.shape), rng.random(ref.model_input.shape),
                                             method="random")
        for name, a in maps.items():
            loc = localisation(a, lesion)
            curves = deletion_insertion(net, a, baseline="blurred", score="probability", steps=20)
            auc = curves.groupby("curve")["auc"].first()
            rows.append({"case_id": cid, "method": name, "localisation_auc": loc["auc"],
                         "mass_in_lesion": loc["mass_in_mask"], "chance": loc["chance"],
                         "pointing_hit": loc["pointing_hit"], "deletion_auc": float(auc["deletion"]),
                         "insertion_auc": float(auc["insertion"]), "p_lesion": float(curves["score"].iloc[0]),
                         "seconds": a.params.get("seconds", float("nan"))})
    df = pd.DataFrame(rows)
    summary = df.groupby("method", sort=False).mean(numeric_only=True)
    # the randomisation end value: |Spearman| of |maps| on the voxels that matter, every layer random (one case)
    end = {}
    for name, kw in tqdm(QUALITY_METHODS.items(), desc="randomisation"):
        kw = {**kw, "n_steps": 8} if kw["method"] == "integrated_gradients" else kw
        kw = {**kw, "window": 16, "stride": 8} if kw["method"] == "occlusion" else kw  # 10 maps: kept coarse
        method = kw.pop("method")
        table = randomisation_check(net, test.volume(ids[0]), method, 1, preprocess=pp, progress=False, **kw)
        end[name] = float(table["spearman_abs"].iloc[-1])
    summary["randomisation_end_spearman_abs"] = pd.Series(end)
    best = summary.drop(index=[m for m in summary.index if m.startswith("(")])["localisation_auc"].idxmax()
    result = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "load_average": list(os.getloadavg())},
        "model": {"recipe": "medwb.teaching.course_model (notebooks 02/03)", "reused_checkpoint": info["reused"]},
        "cases": ids, "target": "logit/probability of class 1 (ring lesion)",
        "deletion_insertion": "reference 'blurred' (sigma 4 model voxels), score = probability, 21 fractions",
        "randomisation": f"cascading, case {ids[0]}, |Spearman| of |maps| on voxels non-zero in either map "
                         "(IG n_steps 8, occlusion w16 s8 for speed)",
        "best_localising_method": best,
        "summary": {m: {k: (None if pd.isna(v) else float(v)) for k, v in r.items()}
                    for m, r in summary.round(4).to_dict(orient="index").items()},
        "per_case": df.round(4).to_dict(orient="records"),
        "seconds": time.perf_counter() - t0,
    }
    out = Path(args.out).with_name("explain_quality.json") if args.out.endswith("explain.json") else Path(args.out)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(summary.round(3).to_string())
    print(f"best localising method: {best}; wrote {out}")


def removal_modes(args):
    """Deletion/insertion of the reference maps under each removal mode (see the module docstring)."""
    import warnings

    import pandas as pd
    from tqdm.auto import tqdm

    import medwb
    from medwb.attribution import deletion_insertion
    from medwb.masks import mask_on_grid
    from medwb.teaching import course_model, course_split

    warnings.simplefilter("ignore")
    cohort = medwb.demo.load_cohort()
    _, test = course_split(cohort)
    net, pp, info = course_model(cohort, progress=False)
    ids = [c for c in test.case_ids if test.row(c)["label"] == 1 and test.row(c)["n_lesions"] >= 1][: args.cases]
    rows = []
    for cid in tqdm(ids, desc="removal modes"):
        vol, truth = test.volume(cid), test.mask(cid)
        lesion = truth.with_array((truth.array == medwb.demo.LABEL_LESION).astype(np.uint8))
        good = explain(net, vol, target=1, preprocess=pp, **QUALITY_METHODS["occlusion w12 s6, blurred"])
        rng = np.random.default_rng(0)
        maps = {"(true lesion mask)": good.with_maps(lesion.array, mask_on_grid(lesion, good.model_input).array,
                                                     method="mask"),
                "occlusion w12 s6, blurred": good,
                "(brightness: windowed CT, no model)": good.with_maps(pp.intensity(vol.array), good.model_input.array,
                                                                      method="brightness"),
                "(random map)": good.with_maps(rng.random(vol.shape), rng.random(good.model_input.shape),
                                               method="random")}
        for name, a in maps.items():
            for removal in ("replace", "impute"):
                t = time.perf_counter()
                curves = deletion_insertion(net, a, baseline="blurred", removal=removal, score="probability",
                                            steps=20)
                auc = curves.groupby("curve")["auc"].first()
                rows.append({"case_id": cid, "method": name, "removal": "blurred" if removal == "replace" else removal,
                             "deletion_auc": float(auc["deletion"]), "insertion_auc": float(auc["insertion"]),
                             "seconds": time.perf_counter() - t})
    df = pd.DataFrame(rows)
    mean = df.groupby(["removal", "method"], sort=False).mean(numeric_only=True).round(4)
    out = Path(args.out).with_name("explain_quality.json") if args.out.endswith("explain.json") else Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result["deletion_by_removal"] = {
        "cases": ids, "model_reused_checkpoint": info["reused"], "score": "probability, 21 fractions",
        "modes": {"blurred": "replace by the Gaussian blur of the input (sigma 4 model voxels)",
                  "impute": "ROAD noisy linear imputation (medwb.attribution.baselines.impute, noise 0.01)"},
        "threads": torch.get_num_threads(), "load_average": list(__import__("os").getloadavg()),
        "mean": {r: {m: mean.loc[(r, m)].to_dict() for m in mean.loc[r].index} for r in mean.index.levels[0]},
        "per_case": df.round(4).to_dict(orient="records"),
    }
    out.write_text(json.dumps(result, indent=2, default=float))
    print(mean.to_string())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
