"""Sanity check for attribution maps: cascading model-parameter randomisation (Adebayo et al., 2018).

If a map does not change when the model's learned weights are replaced by random ones, it explains the
input (edges, intensity) rather than the model. Layers are randomised from the output downwards,
cumulatively (``cascade=True``) or one at a time; after each step the map is compared with the
original by Spearman rank correlation (of signed and absolute values) and SSIM (of the absolute maps
scaled to [0, 1]). A trustworthy method shows these falling towards 0 as more layers are randomised.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from medwb.volume import Volume

__all__ = ["randomisation_check", "parameter_layers", "compare_maps"]


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters and can re-initialise them, from output to input."""
    names = [n for n, m in model.named_modules()
             if n and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]
    return names[::-1]


def compare_maps(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Spearman (signed, absolute) and SSIM of two maps of the same shape."""
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {b.shape}")
    fa, fb = a.reshape(-1), b.reshape(-1)
    with np.errstate(all="ignore"):
        rho = spearmanr(fa, fb).statistic if fa.std() > 0 and fb.std() > 0 else float("nan")
        ok = np.abs(fa).std() > 0 and np.abs(fb).std() > 0
        rho_abs = spearmanr(np.abs(fa), np.abs(fb)).statistic if ok else float("nan")

    def unit(v: np.ndarray) -> np.ndarray:
        m = np.abs(v).max()
        return np.abs(v) / m if m > 0 else np.abs(v)

    win = min(7, *[n if n % 2 else n - 1 for n in a.shape]) if a.ndim else 1
    ssim = float(structural_similarity(unit(a), unit(b), data_range=1.0, win_size=max(win, 3))) \
        if min(a.shape) >= 3 else float("nan")
    return {"spearman": float(rho), "spearman_abs": float(rho_abs), "ssim": ssim}


def randomisation_check(model: nn.Module, volume: Volume | np.ndarray, method: str = "gradcam",
                        target: Any = "predicted", *, cascade: bool = True, layers: list[str] | None = None,
                        seed: int = 0, progress: bool = True, return_maps: bool = False,
                        **explain_kw: Any) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Cascading (or independent) randomisation of the model's layers, top down; maps compared each step.

    Args:
        model: the trained model (left untouched; copies are randomised).
        volume, method, target, explain_kw: as for medwb.explain (e.g. preprocess=pp).
        cascade: True randomises layers cumulatively from the output; False one layer at a time.
        layers: names to randomise, in order (default parameter_layers(model): all, output first).
        seed: seed of the random re-initialisation.
        return_maps: also return {layer: model-space map} (for figures).

    Returns:
        DataFrame with step (0 = original), layer, spearman, spearman_abs, ssim; a Grad-CAM target
        layer is kept fixed by name across steps; with ``return_maps`` a (DataFrame, maps) pair.

    Example:
        >>> # df = randomisation_check(net, ct, "integrated_gradients", 1, preprocess=pp)
        >>> # df[["layer", "spearman_abs", "ssim"]]
    """
    from tqdm.auto import tqdm

    from medwb.attribution.core import explain

    names = layers if layers is not None else parameter_layers(model)
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise KeyError(f"unknown layers {unknown}; layers with parameters: {parameter_layers(model)}")
    original = explain(model, volume, method, target, **explain_kw)
    t_idx = original.params["target_index"]
    if method in ("gradcam", "grad_cam") and "layer" not in explain_kw:
        explain_kw["layer"] = original.params["layer"]
    ref = original.model_space.array
    rows = [{"step": 0, "layer": "(original)", **compare_maps(ref, ref)}]
    maps = {"(original)": ref}
    work = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for step, name in enumerate(tqdm(names, desc="randomise", disable=not progress), start=1):
            if not cascade:
                work = copy.deepcopy(model)
            mod = dict(work.named_modules())[name]
            mod.reset_parameters()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):  # random affine, not the identity
                with torch.no_grad():
                    mod.weight.normal_(1.0, 0.5)
                    mod.bias.normal_(0.0, 0.5)
            a = explain(work, volume, method, t_idx, **explain_kw).model_space.array
            maps[name] = a
            rows.append({"step": step, "layer": name, **compare_maps(ref, a)})
    df = pd.DataFrame(rows)
    df["cascade"] = cascade
    df["method"] = original.method
    return (df, maps) if return_maps else df
