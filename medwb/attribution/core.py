"""explain(): one verb for every attribution method, returning an Attribution in the volume's geometry.

Geometry: the model sees ``preprocess(volume)`` (windowed, resampled, cropped: a Volume with its own
affine). The attribution is computed on that grid (``Attribution.model_space``) and carried back onto
the grid of the Volume you gave with medwb.transforms.resample_like (linear; 0 outside the model's
field of view), so ``Attribution.array`` overlays the original image exactly. With
``preprocess=None`` the volume is taken as already model-ready and no resampling happens. Sums (IG
completeness, mass fractions) are exact on ``model_space``; on ``array`` they are interpolated.

Baselines (IG and occlusion) are built by medwb.attribution.baselines (the one home, shared with
deletion/insertion): "zeros" (0 on the model's scale: air after a CT window), "air" (−1000 HU
through the preprocessing, or −1000 raw without one), "blurred" (Gaussian blur of the input, σ =
``blur_sigma`` model voxels: removes the lesion's texture but keeps anatomy), or an array/Volume.

Targets: an int class index (negative counts from the end, as in Python: -1 is the last class, and
``params["target_index"]`` records the class it resolved to), "predicted", or a Region.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from medwb.attribution.baselines import make_baseline
from medwb.attribution.checks import (
    ExplainWarning,
    check_arguments,
    check_cam_layer,
    model_error,
    on_device,
    warn_incomplete,
)
from medwb.attribution.memory import DEFAULT_BUDGET, activation_bytes, choose_batch, parse_bytes
from medwb.attribution.result import Attribution
from medwb.attribution.targets import Region, ScoreModel, conv_layers, describe_target, find_layer
from medwb.models.inference import inference_mode
from medwb.provenance import flat_provenance
from medwb.volume import Volume

__all__ = ["explain", "METHODS", "ExplainWarning"]

METHODS = ("integrated_gradients", "saliency", "smoothgrad", "gradcam", "occlusion")
_ALIASES = {"ig": "integrated_gradients", "integratedgradients": "integrated_gradients",
            "grad_cam": "gradcam", "grad-cam": "gradcam", "layergradcam": "gradcam",
            "noisetunnel": "smoothgrad", "smooth_grad": "smoothgrad", "gradient": "saliency"}


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


def _check_target(t_idx: int, n_out: int) -> int:
    """The class index ``t_idx`` resolves to (negative counts from the end, as in Python)."""
    if not -n_out <= t_idx < n_out:
        raise IndexError(
            f"target {t_idx} is out of range: the model returns {n_out} output(s) (valid 0..{n_out - 1}, "
            f"or -1..-{n_out} counting from the last).\n"
            "Fix: for a binary classifier with 2 logits use target=1 for the positive class."
        )
    return t_idx % n_out


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
        target: an int class index (the logit of that class; negative counts from the last class,
            -1 = the last, alike in every method), "predicted" (the argmax class), or a
            Region(mask, channel) for voxel-wise outputs (the summed score inside the mask), or a
            target with ``bind(model, preprocess) -> (module, index, preprocess)`` that defines its own
            score (medwb.survival.deep.Risk / SurvivalAt: a survival model's risk or S(t | x)).
        preprocess: the medwb.models.Preprocess the model was trained with (e.g. from
            load_checkpoint's info["preprocess"]); None = the volume is already model input.
        baseline: IG and occlusion reference: "zeros", "air", "blurred", a number, array or Volume.
        score: "logit" (default; additive, best for IG completeness) or "probability" (softmax).
        n_steps: IG path steps (Gauss–Legendre, at least 1); an ExplainWarning says when the
            completeness gap exceeds 5 % of |f(x) - f(baseline)|. n_samples, noise: SmoothGrad samples and noise
            standard deviation as a fraction of the input's value range.
        layer: Grad-CAM layer name (default: the last Conv3d); relu: Grad-CAM's ReLU on the map.
        window, stride: occlusion cube size and step in model voxels (stride default window // 2).
        internal_batch_size: examples per model call; default chosen from ``memory_budget``.
        memory_budget: bytes or "2GiB"; default 2 GiB.
        device: where to compute; the model is moved there for the call and back to its own device
            (its train/eval flags restored) afterwards.
        seed: randomness of SmoothGrad (attributions are reproducible on CPU).

    Bad settings fail before any work, with the value and the fix: a float64 model, a volume smaller
    than the network's downsampling, Grad-CAM on a Linear layer, n_steps < 1, a memory_budget that is
    not a size. With ``preprocess=None``, ``.array`` is a copy of ``.model_space.array``.

    Example:
        >>> import torch
        >>> from medwb.models import Preprocess, TeachingNet3D
        >>> from medwb.models.synthetic import synthetic_case
        >>> ct, lesion = synthetic_case(1, seed=0, shape=(24, 32, 32))   # a small CT in HU + its mask
        >>> _ = torch.manual_seed(0)
        >>> net = TeachingNet3D(width=4).eval()                           # untrained: any classifier works
        >>> pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(24, 32, 32))
        >>> a = explain(net, ct, "integrated_gradients", target=1, preprocess=pp, baseline="air")
        >>> a.volume.same_grid(ct), a.relative_delta < 0.01   # on the CT's grid; IG adds up
        (True, True)
        >>> explain(net, ct, "gradcam", target="predicted", preprocess=pp).params["layer"]
        'features.conv4'
    """
    from medwb.models.device import pick_device

    method = _method(method)
    named = target  # a target with bind() brings its own score (e.g. medwb.survival.deep.Risk / SurvivalAt)
    if callable(getattr(target, "bind", None)):
        model, target, preprocess = target.bind(model, preprocess)
    check_arguments(model, method, n_steps, n_samples, window)
    volume = _as_volume(volume)
    if score not in ("logit", "probability"):
        raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
    dev = pick_device(device)
    budget = parse_bytes(memory_budget)
    mvol = preprocess(volume) if preprocess is not None else volume.with_array(volume.array.astype(np.float32))
    x_np = np.ascontiguousarray(mvol.array, dtype=np.float32)
    x = torch.from_numpy(x_np)[None, None].to(dev)

    if any(m.training for m in model.modules()):
        warnings.warn(
            "the model was in training mode; explain() put it in eval mode for this call (BatchNorm uses its "
            "running statistics, dropout is off) and restores training mode afterwards.",
            ExplainWarning, stacklevel=2)
    with inference_mode(model), on_device(model, dev):
        region = None
        if isinstance(target, Region):
            m = target.mask
            if isinstance(m, Volume):  # onto the model's grid by the one rule (medwb.masks.mask_on_grid)
                from medwb.masks import mask_on_grid

                m = mask_on_grid(m, mvol).array
            region = torch.as_tensor(np.asarray(m) != 0, device=dev)
            channel = int(target.channel)
        fwd = ScoreModel(model, region, channel if region is not None else 0,
                         target.reduce if isinstance(target, Region) else "sum", score == "probability")
        # One probing forward measures activation memory and resolves "predicted". Saliency and
        # Grad-CAM with an explicit target skip it (it would double Grad-CAM's cost) and read the
        # output from their own forward pass instead.
        light = method in ("saliency", "gradcam") and not isinstance(target, str) and not (
            isinstance(target, (int, np.integer)) and target < 0)  # -1 needs the number of outputs
        captured: dict[str, torch.Tensor] = {}
        if light:
            per_example, out = 0, None

            def grab(_m: nn.Module, _i: object, o: torch.Tensor) -> None:  # must return None
                captured.setdefault("out", o.detach())

            hook = fwd.register_forward_hook(grab)
        else:
            try:
                per_example, out = activation_bytes(fwd, x)
            except RuntimeError as err:
                clear = model_error(err, x.shape[2:])
                if clear is None:
                    raise
                raise clear from err
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
                t_idx = _check_target(t_idx, n_out)
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

        b_np = None
        if method in ("integrated_gradients", "occlusion"):
            b_np = make_baseline(baseline, volume, mvol, preprocess, blur_sigma)
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
                warn_incomplete(delta, s_x - base_score, n_steps)
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
                check_cam_layer(model, name, mod)
                cam = LayerGradCam(fwd, mod).attribute(x, target=t_idx, relu_attributions=relu)
                if cam.dim() != x.dim():
                    raise ValueError(
                        f"Grad-CAM needs a layer with a spatial output (N, C, D, H, W); layer {name!r} gives "
                        f"shape {tuple(cam.shape)}.\nFix: pass layer=<a convolution layer>, one of "
                        f"{', '.join(conv_layers(model)) or 'none'} (or leave layer=None: the last Conv3d).")
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
        except (IndexError, RuntimeError) as err:
            if light and "out" in captured:
                _check_target(t_idx, captured["out"].shape[1])
            clear = model_error(err, x.shape[2:]) if isinstance(err, RuntimeError) else None
            if clear is None:
                raise
            raise clear from err
        finally:
            if light:
                hook.remove()
        if light and "out" in captured:
            s_x = float(captured["out"][0, t_idx])

    amap = attr.detach().float().cpu().numpy()[0, 0].astype(np.float32)
    model_space = mvol.with_array(amap, attribution=method)
    if preprocess is not None:
        from medwb import transforms

        array = transforms.resample_like(model_space, volume, order=1, fill=0.0, dtype=np.float32).array
    else:
        array = amap.copy()  # its own memory: editing .array must not change .model_space
    provenance = flat_provenance(model=model, input_array=x_np, device=str(dev))
    return Attribution(
        array=array, affine=volume.affine.copy(), method=method, target=describe_target(named) if not
        isinstance(named, str) else f"predicted ({t_idx})", params=params, provenance=provenance,
        delta=delta, score=s_x, baseline_score=base_score, model_space=model_space, model_input=mvol,
        baseline_input=mvol.with_array(b_np) if b_np is not None else None,
        region=Region(region.cpu().numpy(), channel, target.reduce) if region is not None else None)
