"""What an explanation explains: a class logit, the predicted class, or a region of a segmentation.

Captum's ``target`` indexes the model output per example; for a classifier returning (N, C) logits,
``target=k`` explains logit k (before softmax). A segmentation network returns (N, C, D, H, W): there
is no single number to explain until you say which voxels count. ``Region(mask, channel)`` makes that
explicit: the explained score is the sum (or mean) of output channel ``channel`` over the mask, so
the attribution answers "which input voxels raise the predicted lesion score inside this region"
(captum#962, captum#1121). Layer lookup for Grad-CAM lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from medwb.volume import Volume

__all__ = ["Region", "LayerNotFoundError", "conv_layers", "find_layer", "ScoreModel"]


class LayerNotFoundError(LookupError):
    """A layer name that the model does not have (the message lists the ones it does)."""


@dataclass
class Region:
    """A region target for models with a voxel-wise output (N, C, D, H, W).

    Args:
        mask: boolean/0-1 array on the model's input grid, or a Volume on the explained volume's grid
            (it is carried through the same Preprocess, nearest-neighbour).
        channel: output channel whose values are summed (e.g. 1 = lesion in a 2-class segmenter).
        reduce: "sum" (default; grows with region size) or "mean".

    Example:
        >>> import torch
        >>> from scipy import ndimage
        >>> from medwb.models.synthetic import synthetic_case
        >>> ct, lesion = synthetic_case(1, seed=0, shape=(16, 24, 24))
        >>> _ = torch.manual_seed(0)
        >>> seg_net = torch.nn.Conv3d(1, 2, kernel_size=3, padding=1).eval()  # (N, 2, D, H, W) scores
        >>> region = Region(lesion, channel=1)
        >>> region
        Region(channel=1, sum over 122 voxels)
        >>> a = medwb.explain(seg_net, ct, "integrated_gradients", target=region)
        >>> near = ndimage.binary_dilation(lesion.array > 0, np.ones((3, 3, 3)))  # the 3³ kernel's reach
        >>> bool(np.all(a.array[~near] == 0)), bool(np.any(a.array[near] != 0))
        (True, True)

        A classifier's target is a class index instead: ``medwb.explain(net, ct, target=1)``.
    """

    mask: np.ndarray | Volume
    channel: int = 1
    reduce: str = "sum"

    def __post_init__(self) -> None:
        if self.reduce not in ("sum", "mean"):
            raise ValueError(f"Region.reduce must be 'sum' or 'mean', got {self.reduce!r}")

    def __repr__(self) -> str:
        m = self.mask.array if isinstance(self.mask, Volume) else np.asarray(self.mask)
        return f"Region(channel={self.channel}, {self.reduce} over {int((m != 0).sum())} voxels)"


class ScoreModel(nn.Module):
    """Wraps a model so that its output is the (N, K) score that an attribution method explains.

    ``region`` (a (D, H, W) tensor) turns a voxel-wise output into one score per example;
    ``probability`` applies softmax (or sigmoid for one logit) before indexing.
    """

    def __init__(self, model: nn.Module, region: torch.Tensor | None = None, channel: int = 0,
                 reduce: str = "sum", probability: bool = False) -> None:
        super().__init__()
        self.model = model
        self.channel = channel
        self.reduce = reduce
        self.probability = probability
        self.register_buffer("region", region if region is not None else torch.zeros(0), persistent=False)
        self.has_region = region is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if self.has_region:
            if out.ndim != 5:
                raise ValueError(
                    f"a Region target needs a voxel-wise output (N, C, D, H, W); the model returned "
                    f"shape {tuple(out.shape)}.\nFix: for a classifier pass target=<class index> instead."
                )
            if self.probability:
                out = torch.softmax(out, dim=1) if out.shape[1] > 1 else torch.sigmoid(out)
            r = self.region.to(out.dtype)
            if r.shape != out.shape[2:]:
                raise ValueError(
                    f"region mask shape {tuple(r.shape)} does not match the model output grid "
                    f"{tuple(out.shape[2:])}.\nFix: give the mask on the model's input grid or as a Volume."
                )
            s = (out[:, self.channel] * r).sum(dim=(1, 2, 3))
            if self.reduce == "mean":
                s = s / r.sum().clamp_min(1)
            return s[:, None]
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2:
            raise ValueError(
                f"the model returned shape {tuple(out.shape)}; a class target needs (N, classes) logits.\n"
                "Fix: for a segmentation output pass target=Region(mask, channel=...)."
            )
        if self.probability:
            out = torch.softmax(out, dim=1) if out.shape[1] > 1 else torch.sigmoid(out)
        return out


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's convolution layers (Conv1d/2d/3d), in definition order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]


def find_layer(model: nn.Module, layer: str | nn.Module | None) -> tuple[str, nn.Module]:
    """Resolve a Grad-CAM layer: None → the last Conv3d; a name → that module; a module → itself.

    When the last Conv3d sits in an nn.Sequential block with an activation (conv → norm → ReLU, as in
    TeachingNet3D and most 3D CNNs), the block is used, so Grad-CAM weighs the activated feature map
    as in the original paper rather than the raw, pre-normalisation convolution output.
    """
    if isinstance(layer, nn.Module):
        for n, m in model.named_modules():
            if m is layer:
                return n, m
        raise LayerNotFoundError(f"the module {type(layer).__name__} given as layer is not part of the model")
    modules = dict(model.named_modules())
    if layer is None:
        convs = [n for n, m in modules.items() if isinstance(m, nn.Conv3d)]
        if not convs:
            raise LayerNotFoundError(
                f"the model ({type(model).__name__}) has no Conv3d layer for Grad-CAM.\n"
                f"Fix: pass layer='<name>' (convolution layers: {', '.join(conv_layers(model)) or 'none'})."
            )
        name = convs[-1]
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        if parent and isinstance(modules[parent], nn.Sequential) and any(
                isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU))
                for m in modules[parent].children()):
            name = parent  # conv -> norm -> activation block: use the activated feature map
        return name, modules[name]
    if layer not in modules or layer == "":
        convs = conv_layers(model)
        shown = ", ".join(convs[:40]) + (" ..." if len(convs) > 40 else "")
        raise LayerNotFoundError(
            f"the model has no layer {layer!r}.\nConvolution layers it does have: {shown or 'none'}"
        )
    return layer, modules[layer]


def describe_target(target: Any) -> Any:
    """A JSON-friendly description of a target for params/provenance."""
    if isinstance(target, Region) or callable(getattr(target, "bind", None)):  # bind: e.g. survival.deep.Risk
        return repr(target)
    if isinstance(target, (np.integer, int)):
        return int(target)
    return target
