"""How good is an attribution map? Localisation against ground truth, faithfulness, robustness.

* localisation(): share of positive attribution mass inside a lesion mask, against chance (the mask's
  share of the voxels), the voxel-wise ROC AUC of the map against the mask (localisation_auc: does
  the map rank lesion voxels above the rest? 0.5 = chance) and the pointing game (is the map's one
  maximum inside the, optionally dilated, mask?). The three answer different questions: a coarse
  Grad-CAM can rank the lesion first (AUC 0.99) while its single peak lands next to it (pointing 0).
* deletion_insertion() (medwb.attribution.faithfulness): remove (or reveal) voxels from most to least
  attributed, replaced by an in-distribution reference, and watch the score.
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

from medwb.attribution.faithfulness import deletion_insertion
from medwb.attribution.result import Attribution
from medwb.masks import mask_on_grid
from medwb.models.inference import inference_mode
from medwb.volume import Volume

__all__ = ["localisation", "localisation_auc", "pointing_game", "localisation_table", "deletion_insertion",
           "infidelity", "sensitivity"]


def _mask_on(attribution: Attribution, mask: Volume | np.ndarray) -> np.ndarray:
    """The mask on the attribution's grid, by medwb.masks.mask_on_grid (the one rule features use too)."""
    if not isinstance(mask, Volume) and np.shape(mask) != attribution.shape:
        raise ValueError(
            f"mask shape {np.shape(mask)} does not match the attribution {attribution.shape}.\n"
            "Fix: pass the mask as a Volume (it is put on the attribution's grid by medwb.masks.mask_on_grid)."
        )
    return mask_on_grid(mask, attribution.volume).array != 0


def localisation(attribution: Attribution, mask: Volume | np.ndarray) -> dict[str, float]:
    """Share of the positive attribution mass that falls inside ``mask``, and what chance would give.

    Returns mass_in_mask (0–1), chance (mask voxels / all voxels: a uniform map's score),
    enrichment (mass_in_mask / chance; 1 = no better than chance), auc (localisation_auc: the
    voxel-wise ROC AUC of the map against the mask; 0.5 = chance, 1 = every lesion voxel ranked
    first) and pointing_hit.

    Example:
        >>> from medwb.attribution import Attribution
        >>> mask = np.zeros((20, 20, 20), np.uint8)
        >>> mask[8:12, 8:12, 8:12] = 1                                      # 64 of 8000 voxels
        >>> z, y, x = np.indices(mask.shape)
        >>> blob = np.exp(-((z - 9.5) ** 2 + (y - 9.5) ** 2 + (x - 9.5) ** 2) / 4)  # a map peaking inside
        >>> a = Attribution(blob.astype(np.float32), np.eye(4), "saliency", 1)
        >>> {k: round(v, 3) for k, v in localisation(a, mask).items()}
        {'mass_in_mask': 0.617, 'chance': 0.008, 'enrichment': 77.165, 'auc': 1.0, 'pointing_hit': 1.0}
        >>> flat = Attribution(np.ones((20, 20, 20), np.float32), np.eye(4), "saliency", 1)
        >>> localisation(flat, mask)["enrichment"]                          # a uniform map scores chance
        1.0
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
            "auc": _voxel_auc(pos, m),
            "pointing_hit": float(pointing_game(attribution, mask))}


def _voxel_auc(values: np.ndarray, mask: np.ndarray) -> float:
    """ROC AUC of ``values`` as a score for ``mask`` (Mann–Whitney U from average ranks; ties count ½)."""
    from scipy.stats import rankdata

    m = np.asarray(mask, bool).reshape(-1)
    n1 = int(m.sum())
    n0 = m.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.nan_to_num(np.asarray(values, np.float64).reshape(-1)), method="average")
    return float((ranks[m].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def localisation_auc(attribution: Attribution, mask: Volume | np.ndarray, within: np.ndarray | None = None
                     ) -> float:
    """Voxel-wise ROC AUC of the map against the mask: the chance that a random lesion voxel has a
    higher attribution than a random voxel outside it (ties count half). The positive part of the map
    is ranked (evidence *for* the target, as mass_in_mask counts it: evidence against ranks with 0).
    0.5 = no better than chance, 1 = the lesion ranked first. ``within`` (a boolean array on the map's
    grid, e.g. the head: ``volume.array > -500``) restricts the voxels compared, so that a map that is
    merely 0 in the air around the head earns nothing for it.

    Unlike the pointing game it uses every voxel; unlike mass_in_mask it does not depend on how much
    of the map's mass a coarse map spreads around the lesion. The mask is put on the map's grid by
    medwb.masks.mask_on_grid.

    Example:
        >>> from medwb.attribution import Attribution
        >>> mask = np.zeros((10, 10, 10), bool); mask[4:6, 4:6, 4:6] = True
        >>> ramp = np.indices(mask.shape).sum(axis=0).astype(np.float32)   # not about the lesion at all
        >>> exact = Attribution(mask.astype(np.float32), np.eye(4), "saliency", 1)
        >>> localisation_auc(exact, mask), round(localisation_auc(Attribution(ramp, np.eye(4), "saliency", 1), mask), 2)
        (1.0, 0.5)
    """
    m = _mask_on(attribution, mask)
    if not m.any():
        raise ValueError("the mask is empty: localisation is undefined for a case without a lesion.\n"
                         "Fix: evaluate only cases with a lesion (e.g. cohort cases whose mask has voxels).")
    values = attribution.positive()
    if within is not None:
        w = np.asarray(within, bool)
        if w.shape != m.shape:
            raise ValueError(f"within has shape {w.shape}, the map {m.shape}.\nFix: give it on the map's grid.")
        values, m = values[w], m[w]
    return _voxel_auc(values, m)


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

    with inference_mode(model):
        fwd = ScoreModel(model.to(dev), probability=attribution.params.get("score") == "probability")
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            v = _infidelity(fwd, perturb, x, a, target=int(attribution.params.get("target_index", 1)),
                            n_perturb_samples=n_perturb_samples, max_examples_per_batch=2)
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
