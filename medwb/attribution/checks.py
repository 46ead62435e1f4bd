"""Checks around explain(): bad settings refused before any work, torch errors made clear, the model
put back on its own device, and the warning for an Integrated Gradients map that does not add up.

Every error names the bad value and the fix (medwb's style); ExplainWarning marks what explain()
did on the caller's behalf or what the caller should know about a result.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from medwb.attribution.targets import conv_layers

__all__ = ["ExplainWarning", "check_arguments", "check_cam_layer", "warn_incomplete", "on_device",
           "model_error", "COMPLETENESS_TOLERANCE"]

#: IG's completeness gap (|delta| / |f(x) - f(baseline)|) above which explain() warns
COMPLETENESS_TOLERANCE = 0.05


class ExplainWarning(UserWarning):
    """explain() changed something on your behalf (e.g. put the model in eval mode), or a result needs care:
    Integrated Gradients' completeness gap above 5 %, a deletion/insertion reference out of distribution."""


def check_arguments(model: nn.Module, method: str, n_steps: int, n_samples: int,
                     window: int | tuple[int, int, int]) -> None:
    """Refuse bad settings before any work, each with its value and the fix."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model is a {type(model).__name__}; explain() needs a torch.nn.Module.\n"
                        "Fix: pass the network itself (e.g. the model returned by load_checkpoint).")
    wrong = sorted({str(t.dtype) for t in [*model.parameters(), *model.buffers()]
                    if t.is_floating_point() and t.dtype != torch.float32})
    if wrong:
        raise TypeError(
            f"the model's parameters/buffers are {', '.join(wrong)}; explain() feeds float32 inputs, so every "
            "layer would fail with a dtype mismatch.\nFix: explain a float32 copy, e.g. "
            "explain(copy.deepcopy(model).float(), ...), or call model.float() first.")
    if method == "integrated_gradients" and (isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer))
                                             or n_steps < 1):
        raise ValueError(f"n_steps is {n_steps!r}; Integrated Gradients needs at least 1 path step.\n"
                         "Fix: use n_steps=32 (the default) or more; raise it when the completeness gap is large.")
    if method == "smoothgrad" and (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                                   or n_samples < 1):
        raise ValueError(f"n_samples is {n_samples!r}; SmoothGrad needs at least 1 noisy sample.\n"
                         "Fix: use n_samples=16 (the default) or more.")
    if method == "occlusion":
        win = (window,) * 3 if isinstance(window, (int, np.integer)) else tuple(window)
        if len(win) != 3 or any(int(w) < 1 for w in win):
            raise ValueError(f"window is {window!r}; occlusion needs a cube size of at least 1 voxel "
                             "(an int or three ints).\nFix: e.g. window=8.")


def check_cam_layer(model: nn.Module, name: str, module: nn.Module) -> None:
    """Grad-CAM weighs the channels of a spatial feature map: a Linear (or other flat) layer has none."""
    if isinstance(module, (nn.Linear, nn.Bilinear, nn.Flatten, nn.LazyLinear)):
        raise ValueError(
            f"Grad-CAM on layer {name!r}, a {type(module).__name__}: it has no spatial feature map to weigh "
            "(Grad-CAM needs a layer with an (N, C, D, H, W) output).\nFix: pass layer=<a convolution layer>, "
            f"one of {', '.join(conv_layers(model)) or 'none'} (or leave layer=None: the last Conv3d).")


def warn_incomplete(delta: float, gap: float, n_steps: int) -> None:
    """ExplainWarning when IG's attributions miss more than 5 % of the change they explain."""
    if abs(delta) > COMPLETENESS_TOLERANCE * abs(gap) and abs(delta) > 1e-6:
        share = abs(delta) / abs(gap) if gap else float("inf")
        warnings.warn(
            f"Integrated Gradients' completeness gap is {share:.1%} of |f(x) - f(baseline)| = {abs(gap):.4g} "
            f"(sum of attributions misses it by {delta:+.4g}) at n_steps={n_steps}: the map does not add up to "
            f"the change it explains.\nFix: raise n_steps (e.g. n_steps={max(2 * n_steps, 64)}).",
            ExplainWarning, stacklevel=4)


@contextmanager
def on_device(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Move ``model`` to ``device`` for the block and back to where it was afterwards (even on error)."""
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    home = first.device if first is not None else None
    model.to(device)
    try:
        yield model
    finally:
        if home is not None and home != device:
            model.to(home)


def model_error(err: RuntimeError, shape: tuple[int, ...]) -> Exception | None:
    """A clear error for the torch errors a bad input gives, or None to re-raise the original."""
    msg = str(err)
    if "Output size is too small" in msg or "Kernel size can't be greater" in msg or \
            "smaller than kernel size" in msg or "Padding size should be less" in msg:
        return ValueError(
            f"the model input has shape {tuple(shape)}, smaller than the network's downsampling can take "
            f"(torch: {msg.splitlines()[0][:160]}).\nFix: give a larger volume, or a Preprocess whose shape= "
            "is what the model was trained on (e.g. Preprocess(shape=(64, 64, 64))).")
    if "expected scalar type" in msg or "should be the same" in msg and "type" in msg:
        return TypeError(f"the model and its input disagree in dtype ({msg.splitlines()[0][:160]}).\n"
                         "Fix: call model.float() (explain() feeds float32).")
    return None
