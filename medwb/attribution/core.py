"""explain(): one verb for every attribution method, returning an Attribution in the volume's geometry.

Geometry: the model sees ``preprocess(volume)`` (windowed, resampled, cropped: a Volume with its own
affine). The attribution is computed on that grid (``Attribution.model_space``) and carried back onto
the grid of the Volume you gave with medwb.transforms.resample_like (linear; 0 outside the model's
field of view), so ``Attribution.array`` overlays the original image exactly. With
``preprocess=None`` the volume is taken as already model-ready and no resampling happens. Sums (IG
completeness, mass fractions) are exact on ``model_space``; on ``array`` they are interpolated.

Baselines (IG and occlusion): "zeros" (0 on the model's scale: air after a CT window), "air" (−1000 HU
through the preprocessing, or −1000 raw without one), "blurred" (Gaussian blur of the input, σ =
``blur_sigma`` model voxels: removes the lesion's texture but keeps anatomy), or an array/Volume.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from medwb.attribution.memory import DEFAULT_BUDGET, activation_bytes, choose_batch, parse_bytes
from medwb.attribution.result import Attribution
from medwb.attribution.targets import Region, ScoreModel, describe_target, find_layer
from medwb.volume import Volume

__all__ = ["explain", "METHODS", "ExplainWarning"]

METHODS = ("integrated_gradients", "saliency", "smoothgrad", "gradcam", "occlusion")
_ALIASES = {"ig": "integrated_gradients", "integratedgradients": "integrated_gradients",
            "grad_cam": "gradcam", "grad-cam": "gradcam", "layergradcam": "gradcam",
            "noisetunnel": "smoothgrad", "smooth_grad": "smoothgrad", "gradient": "saliency"}


class ExplainWarning(UserWarning):
    """explain() changed something on your behalf (e.g. put the model in eval mode)."""


def _method(name: str) -> str:
    key = str(name).lower().replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise ValueError(f"unknown method {name!r}. Methods: {', '.join(METHODS)}.")
    return key


def _as_volume(volume: Any) -> Volume:
    if isinstance(volume, Volume):
        v = volume
    elif isinstance(volume, (np.ndarray, torch.Tensor)):
        arr = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
        if arr.ndim != 3:
            raise ValueError(
                f"explain() takes one 3D volume (slice, row, column); got an array of shape {arr.shape}.\n"
                "Fix: pass a medwb Volume, or one case's array, e.g. batch[0, 0] for an (N, 1, D, H, W) batch."
            )
        v = Volume(arr, np.eye(4))
    else:
        raise TypeError(f"explain() takes a medwb Volume or a 3D array, got {type(volume).__name__}")
    a = v.array
    if a.dtype == bool or a.dtype.kind not in "iuf":
        raise TypeError(
            f"the volume has dtype {a.dtype}; explain() needs real numbers (int or float).\n"
            "Fix: convert it, e.g. volume.with_array(volume.array.astype('float32'))."
        )
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(
            f"the volume has {bad} NaN/inf voxels ({bad / a.size:.2%}); gradients through them are undefined.\n"
            "Fix: replace them first, e.g. volume.with_array(np.nan_to_num(volume.array, nan=-1000.0))."
        )
    return v


def _baseline(baseline: Any, volume: Volume, mvol: Volume, preprocess: Any, blur_sigma: float) -> np.ndarray:
    x = mvol.array
    if isinstance(baseline, str):
        if baseline == "zeros":
            return np.zeros_like(x)
        if baseline == "air":
            air = np.full(volume.shape, -1000.0, np.float32)
            return preprocess(volume.with_array(air)).array if preprocess is not None else np.full_like(x, -1000.0)
        if baseline == "blurred":
            from scipy.ndimage import gaussian_filter

            return gaussian_filter(x, sigma=blur_sigma).astype(np.float32)
        raise ValueError(f"unknown baseline {baseline!r}; use 'zeros', 'air', 'blurred' or an array/Volume.")
    if isinstance(baseline, (int, float)):
        return np.full_like(x, float(baseline))
    if isinstance(baseline, Volume):
        if baseline.same_grid(mvol):
            return baseline.array.astype(np.float32)
        if preprocess is not None:
            return preprocess(baseline).array
        raise ValueError("a baseline Volume must be on the model's input grid when preprocess is None")
    arr = np.asarray(baseline, dtype=np.float32)
    if arr.shape == x.shape:
        return arr
    if preprocess is not None and arr.shape == volume.shape:
        return preprocess(volume.with_array(arr)).array
    raise ValueError(
        f"baseline shape {arr.shape} fits neither the model input {x.shape} nor the volume {volume.shape}."
    )


def _check_target(t_idx: int, n_out: int) -> None:
    if not 0 <= t_idx < n_out:
        raise IndexError(
            f"target {t_idx} is out of range: the model returns {n_out} output(s) (valid 0..{n_out - 1}).\n"
            "Fix: for a binary classifier with 2 logits use target=1 for the positive class."
        )


def _hash(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def explain(
    model: nn.Module,
    volume: Volume | np.ndarray,
    method: str = "integrated_gradients",
    target: int | str | Region = "predicted",
    *,
    preprocess: Any = None,
    baseline: str | float | np.ndarray | Volume = "zeros",
    score: str = "logit",
    n_steps: int = 32,
    n_samples: int = 16,
    noise: float = 0.1,
    layer: str | nn.Module | None = None,
    relu: bool = True,
    window: int | tuple[int, int, int] = 16,
    stride: int | tuple[int, int, int] | None = None,
    blur_sigma: float = 4.0,
    internal_batch_size: int | None = None,
    memory_budget: int | str = DEFAULT_BUDGET,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Attribution:
    """Explain one prediction of ``model`` on ``volume`` with an attribution map.

    Args:
        model: any nn.Module taking (N, 1, D, H, W). A model in training mode is switched to eval
            for this call (an ExplainWarning says so) and switched back after.
        volume: a Volume (or a 3D array, taken as model-ready on an identity grid).
        method: "integrated_gradients" (alias "ig"), "saliency" (|gradient|), "smoothgrad"
            (NoiseTunnel over Saliency), "gradcam" (LayerGradCam, upsampled trilinearly) or
            "occlusion" (3D sliding window with Captum's Occlusion semantics, computed incrementally
            by medwb.attribution.occlusion: windows equal to the baseline are skipped and, for a model with
            a local Conv/pool trunk, only each window's receptive-field footprint is recomputed).
        target: an int class index (the logit of that class), "predicted" (the argmax class), or a
            Region(mask, channel) for voxel-wise outputs (the summed score inside the mask).
        preprocess: the medwb.models.Preprocess the model was trained with (e.g. from
            load_checkpoint's info["preprocess"]); None = the volume is already model input.
        baseline: IG and occlusion reference: "zeros", "air", "blurred", a number, array or Volume.
        score: "logit" (default; additive, best for IG completeness) or "probability" (softmax).
        n_steps: IG path steps (Gauss–Legendre). n_samples, noise: SmoothGrad samples and noise
            standard deviation as a fraction of the input's value range.
        layer: Grad-CAM layer name (default: the last Conv3d); relu: Grad-CAM's ReLU on the map.
        window, stride: occlusion cube size and step in model voxels (stride default window // 2).
        internal_batch_size: examples per model call; default chosen from ``memory_budget``.
        memory_budget: bytes or "2GiB"; default 2 GiB.
        seed: randomness of SmoothGrad (attributions are reproducible on CPU).

    Example:
        >>> # a = explain(net, ct, "integrated_gradients", target=1, preprocess=pp, baseline="air")
        >>> # a.volume.same_grid(ct), a.relative_delta
        (True, 0.004)
    """
    from medwb.models.device import pick_device

    method = _method(method)
    volume = _as_volume(volume)
    if score not in ("logit", "probability"):
        raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
    dev = pick_device(device)
    budget = parse_bytes(memory_budget)
    mvol = preprocess(volume) if preprocess is not None else volume.with_array(volume.array.astype(np.float32))
    x_np = np.ascontiguousarray(mvol.array, dtype=np.float32)
    x = torch.from_numpy(x_np)[None, None].to(dev)

    was_training = model.training
    if was_training:
        warnings.warn(
            "the model was in training mode; explain() put it in eval mode for this call (BatchNorm uses its "
            "running statistics, dropout is off) and restores training mode afterwards.",
            ExplainWarning, stacklevel=2)
    model.eval()
    try:
        model.to(dev)
        region = None
        if isinstance(target, Region):
            m = target.mask
            if isinstance(m, Volume):
                from medwb import transforms

                m = transforms.resample_like(m, mvol, order=0, fill=0).array
            region = torch.as_tensor(np.asarray(m) != 0, device=dev)
            channel = int(target.channel)
        fwd = ScoreModel(model, region, channel if region is not None else 0,
                         target.reduce if isinstance(target, Region) else "sum", score == "probability").to(dev)
        # One probing forward measures activation memory and resolves "predicted". Saliency and
        # Grad-CAM with an explicit target skip it (it would double Grad-CAM's cost) and read the
        # output from their own forward pass instead.
        light = method in ("saliency", "gradcam") and not isinstance(target, str)
        captured: dict[str, torch.Tensor] = {}
        if light:
            per_example, out = 0, None

            def grab(_m: nn.Module, _i: object, o: torch.Tensor) -> None:  # must return None
                captured.setdefault("out", o.detach())

            hook = fwd.register_forward_hook(grab)
        else:
            per_example, out = activation_bytes(fwd, x)
        n_out = out.shape[1] if out is not None else None
        if isinstance(target, Region):
            t_idx = 0
        elif isinstance(target, str):
            if target != "predicted":
                raise ValueError(f"target must be an int, 'predicted' or a Region, got {target!r}")
            t_idx = int(out[0].argmax())
        elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            t_idx = int(target)
            if n_out is not None:
                _check_target(t_idx, n_out)
        else:
            raise TypeError(f"target must be an int, 'predicted' or a Region, got {type(target).__name__}")
        s_x = float(out[0, t_idx]) if out is not None else None
        params: dict[str, Any] = {"target_index": t_idx, "score": score, "preprocess":
                                  preprocess.to_dict() if hasattr(preprocess, "to_dict") else preprocess}
        grad_fix = "lower the input size (Preprocess(spacing=..., shape=...)) or use method='gradcam'"

        def batch(wanted: int, factor: float = 2.0) -> int:
            if internal_batch_size is not None:
                return int(internal_batch_size)
            return choose_batch(int(per_example * factor), budget, wanted, dev, what=method, fix=grad_fix)

        if method in ("integrated_gradients", "occlusion"):
            b_np = _baseline(baseline, volume, mvol, preprocess, blur_sigma)
            b = torch.from_numpy(np.ascontiguousarray(b_np, dtype=np.float32))[None, None].to(dev)
            params["baseline"] = baseline if isinstance(baseline, (str, int, float)) else "array"
            if isinstance(baseline, str) and baseline == "blurred":
                params["blur_sigma"] = blur_sigma
        def dispatch() -> tuple[torch.Tensor, float | None, float | None]:
            delta = base_score = None
            if method == "integrated_gradients":
                from captum.attr import IntegratedGradients

                ibs = batch(n_steps)
                attr = IntegratedGradients(fwd).attribute(
                    x, baselines=b, target=t_idx, n_steps=n_steps, method="gausslegendre",
                    internal_batch_size=ibs)
                # completeness error, from the probe's f(x) and one forward at the baseline (Captum's
                # return_convergence_delta would run both again)
                with torch.no_grad():
                    base_score = float(fwd(b)[0, t_idx])
                delta = float(attr.double().sum()) - (s_x - base_score)
                params.update(n_steps=n_steps, internal_batch_size=ibs)
            elif method == "saliency":
                from captum.attr import Saliency

                attr = Saliency(fwd).attribute(x, target=t_idx, abs=True)
            elif method == "smoothgrad":
                from captum.attr import NoiseTunnel, Saliency

                ibs = batch(n_samples)
                stdev = float(noise * (x_np.max() - x_np.min() or 1.0))
                with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                    torch.manual_seed(seed)
                    attr = NoiseTunnel(Saliency(fwd)).attribute(
                        x, nt_type="smoothgrad", nt_samples=n_samples, nt_samples_batch_size=ibs, stdevs=stdev,
                        target=t_idx)
                params.update(n_samples=n_samples, noise=noise, stdev=stdev, seed=seed, internal_batch_size=ibs)
            elif method == "gradcam":
                from captum.attr import LayerGradCam

                name, mod = find_layer(model, layer)
                cam = LayerGradCam(fwd, mod).attribute(x, target=t_idx, relu_attributions=relu)
                params.update(layer=name, relu=relu, cam_shape=list(cam.shape[2:]))
                attr = torch.nn.functional.interpolate(cam.float(), size=x.shape[2:], mode="trilinear",
                                                       align_corners=False)
            else:  # occlusion
                # Captum's Occlusion semantics, computed incrementally (medwb.attribution.occlusion)
                from medwb.attribution.occlusion import occlusion

                win = (window,) * 3 if isinstance(window, int) else tuple(int(w) for w in window)
                st = tuple(max(1, w // 2) for w in win) if stride is None else (
                    (stride,) * 3 if isinstance(stride, int) else tuple(int(s) for s in stride))
                ppe = batch(64, factor=1.0)
                attr, info = occlusion(fwd, x, b, t_idx, win, st, ppe, progress=progress)
                params.update(window=list(win), stride=list(st), perturbations_per_eval=ppe,
                              occlusion_engine=info["engine"], occlusion_trunk=info["trunk"],
                              windows=info["windows"], windows_evaluated=info["windows_evaluated"],
                              windows_per_call=info["batch"])
            return attr, delta, base_score

        if method in ("saliency", "smoothgrad"):
            x.requires_grad_(True)
        try:
            attr, delta, base_score = dispatch()
        except (IndexError, RuntimeError):
            if light and "out" in captured:
                _check_target(t_idx, captured["out"].shape[1])
            raise
        finally:
            if light:
                hook.remove()
        if light and "out" in captured:
            s_x = float(captured["out"][0, t_idx])
    finally:
        model.train(was_training)

    amap = attr.detach().float().cpu().numpy()[0, 0].astype(np.float32)
    model_space = mvol.with_array(amap, attribution=method)
    if preprocess is not None:
        from medwb import transforms

        array = transforms.resample_like(model_space, volume, order=1, fill=0.0, dtype=np.float32).array
    else:
        array = amap
    from medwb.models.checkpoint import _versions, state_fingerprint

    provenance = {
        **_versions(), "captum": __import__("captum").__version__,
        "model_class": type(model).__name__, "weights_hash": state_fingerprint(model),
        "input_hash": _hash(x_np), "device": str(dev),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return Attribution(
        array=array, affine=volume.affine.copy(), method=method, target=describe_target(target) if not
        isinstance(target, str) else f"predicted ({t_idx})", params=params, provenance=provenance,
        delta=delta, score=s_x, baseline_score=base_score, model_space=model_space, model_input=mvol)
