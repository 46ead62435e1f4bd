"""Sanity check for attribution maps: cascading model-parameter randomisation (Adebayo et al., 2018).

If a map does not change when the model's learned weights are replaced by random ones, it explains the
input (edges, intensity) rather than the model. Layers are randomised from the output downwards,
cumulatively (``cascade=True``) or one at a time; after each step the map is compared with the
original (compare_maps) by |Spearman ρ| of the absolute maps on the voxels that matter (non-zero in
either map: the empty background would otherwise tie the maps together) and by SSIM of the absolute
maps scaled to [0, 1]. Both are sign-invariant and lie in [0, 1] (SSIM can dip slightly below 0): a
trustworthy method shows them falling towards 0 as more layers are randomised; a method that keeps
a high value with every layer random shows the input, not the model.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from medwb.attribution.checks import ExplainWarning
from medwb.volume import Volume

__all__ = ["randomisation_check", "parameter_layers", "compare_maps"]


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters and can re-initialise them, from output to input."""
    names = [n for n, m in model.named_modules()
             if n and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]
    return names[::-1]


def compare_maps(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> dict[str, float]:
    """How alike two attribution maps are, on the voxels that matter, whatever their signs.

    ``spearman_abs`` (the headline, as Adebayo et al. 2018) is |Spearman ρ| of the *absolute* maps,
    so a map whose sign flipped (a randomised classifier often flips it) still counts as the same
    map (1.0), and identical rankings score 1 while unrelated ones fall towards 0. ``spearman`` is ρ
    of the signed maps. Both are computed only on the voxels that matter: those non-zero in either
    map (and inside ``where``, e.g. a body mask, when given). The background where every map is 0
    (air around the head for IG from a zero baseline, outside a ReLU'd Grad-CAM blob) is left out:
    counted in, its tie of zeros makes any two maps look alike. ``ssim`` compares the absolute maps,
    each scaled to [0, 1], over the whole grid; ``n_voxels`` counts the voxels the ρ's used.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> m = np.zeros((8, 8, 8)); m[2:6, 2:6, 2:6] = rng.normal(size=(4, 4, 4))   # mostly background
        >>> r = compare_maps(m, -m)                              # the same map with its sign flipped
        >>> round(r["spearman_abs"], 3), round(r["spearman"], 3), r["n_voxels"]
        (1.0, -1.0, 64)
        >>> other = np.zeros((8, 8, 8)); other[2:6, 2:6, 2:6] = rng.normal(size=(4, 4, 4))
        >>> compare_maps(m, other)["spearman_abs"] < 0.3          # an unrelated map on the same support
        True
    """
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {b.shape}")
    keep = (a != 0) | (b != 0)
    if where is not None:
        w = np.asarray(where, dtype=bool)
        if w.shape != a.shape:
            raise ValueError(f"where has shape {w.shape}, the maps {a.shape}.\nFix: give a mask on the maps' grid.")
        keep &= w
    fa, fb = a[keep], b[keep]
    with np.errstate(all="ignore"):
        ok = fa.size > 2 and fa.std() > 0 and fb.std() > 0
        rho = spearmanr(fa, fb).statistic if ok else float("nan")
        ok = fa.size > 2 and np.abs(fa).std() > 0 and np.abs(fb).std() > 0
        rho_abs = abs(spearmanr(np.abs(fa), np.abs(fb)).statistic) if ok else float("nan")
    if fa.size and np.array_equal(np.abs(fa), np.abs(fb)):
        rho_abs = 1.0  # identical up to sign (also a constant map)
    elif fa.size > 2 and (np.abs(fa).std() == 0) != (np.abs(fb).std() == 0):
        rho_abs = 0.0  # one map lost every ranking (e.g. Grad-CAM all zero after ReLU): nothing in common

    def unit(v: np.ndarray) -> np.ndarray:
        m = np.abs(v).max()
        return np.abs(v) / m if m > 0 else np.abs(v)

    win = min(7, *[n if n % 2 else n - 1 for n in a.shape]) if a.ndim else 1
    ssim = float(structural_similarity(unit(a), unit(b), data_range=1.0, win_size=max(win, 3))) \
        if min(a.shape) >= 3 else float("nan")
    return {"spearman": float(rho), "spearman_abs": float(rho_abs), "ssim": ssim, "n_voxels": int(keep.sum())}


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
        DataFrame with step (0 = original), layer, spearman_abs (the headline: |ρ| of the absolute
        maps on the voxels that matter; see compare_maps), spearman (signed), ssim, n_voxels; a Grad-CAM target
        layer is kept fixed by name across steps; with ``return_maps`` a (DataFrame, maps) pair.

    Example:
        >>> import torch
        >>> from medwb.models import Preprocess, TeachingNet3D
        >>> from medwb.models.synthetic import synthetic_case
        >>> ct, _ = synthetic_case(1, seed=0, shape=(24, 32, 32))
        >>> _ = torch.manual_seed(0)
        >>> net = TeachingNet3D(width=4).eval()
        >>> pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(24, 32, 32))
        >>> df = randomisation_check(net, ct, "saliency", 1, preprocess=pp, progress=False)
        >>> df["layer"].tolist()[:3]                 # output first, then down the network
        ['(original)', 'classifier', 'features.conv4.1']
        >>> float(df["spearman"].iloc[0]), bool(df["spearman_abs"].iloc[-1] < 0.9)  # maps drift away
        (1.0, True)
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
            with warnings.catch_warnings():  # a random net's IG completeness gap is not the user's concern
                warnings.simplefilter("ignore", ExplainWarning)
                a = explain(work, volume, method, t_idx, **explain_kw).model_space.array
            maps[name] = a
            rows.append({"step": step, "layer": name, **compare_maps(ref, a)})
    df = pd.DataFrame(rows)
    df["cascade"] = cascade
    df["method"] = original.method
    return (df, maps) if return_maps else df
