"""How good is an attribution map? Localisation against ground truth, faithfulness, robustness.

* localisation(): share of positive attribution mass inside a lesion mask, against chance (the mask's
  share of the voxels); pointing_game(): is the map's maximum inside the (optionally dilated) mask?
* deletion_insertion(): remove (or reveal) voxels from most to least attributed and watch the score;
  a faithful map makes the deletion curve fall fast (low AUC) and the insertion curve rise fast.
* infidelity() and sensitivity(): Captum's infidelity and sensitivity_max for one map.
Results are plain dicts or tidy DataFrames (one row per observation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from medwb.attribution.result import Attribution
from medwb.volume import Volume

__all__ = ["localisation", "pointing_game", "localisation_table", "deletion_insertion", "infidelity",
           "sensitivity"]


def _mask_on(attribution: Attribution, mask: Volume | np.ndarray) -> np.ndarray:
    if isinstance(mask, Volume):
        ref = attribution.volume
        if not mask.same_grid(ref):
            from medwb import transforms

            mask = transforms.resample_like(mask, ref, order=0, fill=0)
        m = mask.array
    else:
        m = np.asarray(mask)
    if m.shape != attribution.shape:
        raise ValueError(
            f"mask shape {m.shape} does not match the attribution {attribution.shape}.\n"
            "Fix: pass the mask as a Volume (it is resampled onto the attribution's grid)."
        )
    return m != 0


def localisation(attribution: Attribution, mask: Volume | np.ndarray) -> dict[str, float]:
    """Share of the positive attribution mass that falls inside ``mask``, and what chance would give.

    Returns mass_in_mask (0–1), chance (mask voxels / all voxels: a uniform map's score),
    enrichment (mass_in_mask / chance; 1 = no better than chance) and pointing_hit.

    Example:
        >>> # localisation(medwb.explain(net, ct, "gradcam", 1, preprocess=pp), cohort.mask(cid))
        >>> # {'mass_in_mask': 0.41, 'chance': 0.004, 'enrichment': 102.5, 'pointing_hit': 1.0}
    """
    m = _mask_on(attribution, mask)
    pos = attribution.positive()
    total = float(pos.sum())
    chance = float(m.mean())
    if not m.any():
        raise ValueError("the mask is empty: localisation is undefined for a case without a lesion")
    inside = float(pos[m].sum()) / total if total > 0 else float("nan")
    return {"mass_in_mask": inside, "chance": chance,
            "enrichment": inside / chance if chance > 0 else float("nan"),
            "pointing_hit": float(pointing_game(attribution, mask))}


def pointing_game(attribution: Attribution, mask: Volume | np.ndarray, tolerance_mm: float = 0.0) -> bool:
    """True when the voxel of maximal attribution lies in the mask (dilated by ``tolerance_mm``)."""
    m = _mask_on(attribution, mask)
    if tolerance_mm > 0:
        from scipy import ndimage

        sp = np.asarray(attribution.volume.spacing)
        r = np.ceil(tolerance_mm / sp).astype(int)
        grid = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
        ball = sum((g * s) ** 2 for g, s in zip(grid, sp, strict=True)) <= tolerance_mm**2
        m = ndimage.binary_dilation(m, structure=ball)
    idx = np.unravel_index(int(np.argmax(attribution.array)), attribution.shape)
    return bool(m[idx])


def localisation_table(model: nn.Module, cohort: Any, case_ids: Sequence[str] | None = None,
                       methods: Sequence[str] = ("integrated_gradients", "gradcam"), *, preprocess: Any = None,
                       target: int = 1, progress: bool = True, **explain_kw: Any) -> pd.DataFrame:
    """Localisation of several methods over the cases of a cohort that have a non-empty mask.

    Returns one row per (case, method): case_id, method, label, mass_in_mask, chance, enrichment,
    pointing_hit, seconds.
    """
    import time

    from tqdm.auto import tqdm

    from medwb.attribution.core import explain

    ids = list(case_ids) if case_ids is not None else cohort.case_ids
    rows = []
    for cid in tqdm(ids, desc="localisation", disable=not progress):
        mask = cohort.mask(cid)
        if mask is None or not np.any(mask.array):
            continue
        vol = cohort.volume(cid)
        label = cohort.row(cid).get("label", np.nan) if hasattr(cohort, "row") else np.nan
        for meth in methods:
            t0 = time.perf_counter()
            a = explain(model, vol, meth, target, preprocess=preprocess, **explain_kw)
            rows.append({"case_id": cid, "method": meth, "label": label, **localisation(a, mask),
                         "seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def deletion_insertion(model: nn.Module, attribution: Attribution, *, steps: int = 20,
                       baseline: str | float = "zeros", score: str = "probability", batch_size: int = 4,
                       blur_sigma: float = 4.0, device: str | torch.device | None = None) -> pd.DataFrame:
    """Deletion and insertion curves on the model's grid, with their areas under the curve.

    Voxels are ranked by attribution (highest first). Deletion replaces the top fraction with the
    baseline; insertion starts from the baseline and puts the top fraction back. Scores are the
    target's probability (or logit) at ``steps + 1`` fractions from 0 to 1.

    Returns a tidy DataFrame: curve ("deletion"/"insertion"), fraction, score, auc (per curve).
    """
    from medwb.models.device import pick_device

    if attribution.model_input is None or attribution.model_space is None:
        raise ValueError("this Attribution has no model-space input; make it with medwb.explain()")
    dev = pick_device(device)
    x = attribution.model_input.array.astype(np.float32)
    a = attribution.model_space.array
    if baseline == "blurred":
        from scipy.ndimage import gaussian_filter

        b = gaussian_filter(x, blur_sigma).astype(np.float32)
    elif baseline == "zeros":
        b = np.zeros_like(x)
    else:
        b = np.full_like(x, float(baseline))
    order = np.argsort(-a.reshape(-1), kind="stable")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    t_idx = int(attribution.params.get("target_index", 1))
    was = model.training
    model.eval()
    model.to(dev)
    rows = []
    try:
        for curve in ("deletion", "insertion"):
            imgs = []
            for f in fractions:
                k = int(round(f * order.size))
                img = (x if curve == "deletion" else b).reshape(-1).copy()
                img[order[:k]] = (b if curve == "deletion" else x).reshape(-1)[order[:k]]
                imgs.append(img.reshape(x.shape))
            scores = []
            with torch.no_grad():
                for i in range(0, len(imgs), batch_size):
                    t = torch.from_numpy(np.stack(imgs[i:i + batch_size]))[:, None].to(dev)
                    out = model(t).float()
                    if score == "probability":
                        out = torch.softmax(out, 1) if out.shape[1] > 1 else torch.sigmoid(out)
                    scores.append(out[:, t_idx].cpu().numpy())
            s = np.concatenate(scores)
            auc = _trapezoid(s, fractions)
            rows += [{"curve": curve, "fraction": float(f), "score": float(v), "auc": auc}
                     for f, v in zip(fractions, s, strict=True)]
    finally:
        model.train(was)
    return pd.DataFrame(rows)


def infidelity(model: nn.Module, attribution: Attribution, *, n_perturb_samples: int = 8, noise: float = 0.05,
               seed: int = 0, device: str | torch.device | None = None) -> float:
    """Captum's infidelity of the map (lower is better): E[(Iᵀφ − (f(x) − f(x − I)))²], I ~ N(0, noise²)."""
    from captum.metrics import infidelity as _infidelity

    from medwb.attribution.targets import ScoreModel
    from medwb.models.device import pick_device

    dev = pick_device(device)
    x = torch.from_numpy(attribution.model_input.array.astype(np.float32))[None, None].to(dev)
    a = torch.from_numpy(attribution.model_space.array.astype(np.float32))[None, None].to(dev)

    def perturb(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = torch.randn_like(inputs) * noise
        return n, inputs - n

    was = model.training
    model.eval()
    try:
        fwd = ScoreModel(model.to(dev), probability=attribution.params.get("score") == "probability")
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            v = _infidelity(fwd, perturb, x, a, target=int(attribution.params.get("target_index", 1)),
                            n_perturb_samples=n_perturb_samples, max_examples_per_batch=2)
    finally:
        model.train(was)
    return float(v.reshape(-1)[0])


def sensitivity(model: nn.Module, attribution: Attribution, *, n_perturb_samples: int = 4, radius: float = 0.02,
                seed: int = 0, **explain_kw: Any) -> float:
    """Captum's sensitivity_max: the largest relative change of the map under input noise of ``radius``.

    Re-runs the same method (same parameters, on the model grid) ``n_perturb_samples`` times.
    """
    from captum.metrics import sensitivity_max

    from medwb.attribution.core import explain

    x = torch.from_numpy(attribution.model_input.array.astype(np.float32))[None, None]
    t_idx = int(attribution.params.get("target_index", 1))
    keep = {k: attribution.params[k] for k in ("n_steps", "layer", "relu", "n_samples", "noise")
            if k in attribution.params}
    if isinstance(attribution.params.get("baseline"), str):
        keep["baseline"] = attribution.params["baseline"]
    keep.update(explain_kw)

    def explanation(inputs: torch.Tensor | tuple[torch.Tensor, ...], target: int = t_idx) -> torch.Tensor:
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[0]
        flat = inputs.reshape(-1, *inputs.shape[-3:])
        maps = [explain(model, inp.detach().cpu().numpy(), attribution.method, target, **keep).array
                for inp in flat]
        return torch.from_numpy(np.stack(maps)).reshape(inputs.shape)

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        v = sensitivity_max(explanation, x, perturb_radius=radius, n_perturb_samples=n_perturb_samples,
                            max_examples_per_batch=1)
    return float(v.reshape(-1)[0])
