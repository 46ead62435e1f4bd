"""Small 3D networks for teaching: fast enough to train on 2 CPU cores, big enough to be interesting.

Any ``torch.nn.Module`` that takes (N, 1, D, H, W) and returns (N, classes) logits works with
medwb.models.train and medwb.explain; these are defaults, not requirements.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["TeachingNet3D", "MODEL_REGISTRY", "build_model"]


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=False),
    )


class TeachingNet3D(nn.Module):
    """A four-convolution 3D CNN with BatchNorm, global average pooling and a linear head.

    At a 64³ input the stem (stride 2) and two poolings bring the last convolution to 8³, so Grad-CAM
    maps have 8³ cells (24 mm at 3 mm voxels); with global average pooling and one linear layer,
    Grad-CAM on ``features.conv4`` equals the classic class activation map (CAM). Global max pooling
    was tried and learned far more slowly (its gradient reaches one voxel per channel). About 60k
    parameters at ``width=16``; convolutions have no bias (BatchNorm's shift is the bias), the head does.

    Args:
        in_channels: input channels (1 for a single CT/MR volume).
        n_classes: logits returned; 2 for a binary label (class 1 = positive).
        width: channels of the first convolution; later ones use 2 × width.
        dropout: dropout before the linear head.

    Example:
        >>> net = TeachingNet3D()
        >>> net(torch.zeros(2, 1, 64, 64, 64)).shape
        torch.Size([2, 2])
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 2, width: int = 16, dropout: float = 0.2) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "in_channels": in_channels,
            "n_classes": n_classes,
            "width": width,
            "dropout": dropout,
        }
        w = width
        self.features = nn.Sequential()
        self.features.add_module("conv1", _block(in_channels, w, stride=2))
        self.features.add_module("pool1", nn.MaxPool3d(2))
        self.features.add_module("conv2", _block(w, 2 * w))
        self.features.add_module("pool2", nn.MaxPool3d(2))
        self.features.add_module("conv3", _block(2 * w, 2 * w))
        self.features.add_module("conv4", _block(2 * w, 2 * w))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * w, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return self.classifier(self.dropout(f.mean(dim=(2, 3, 4))))


#: Model classes a checkpoint can rebuild from its config alone (name -> class).
MODEL_REGISTRY: dict[str, type[nn.Module]] = {"TeachingNet3D": TeachingNet3D}


def build_model(name: str, config: dict[str, Any] | None = None) -> nn.Module:
    """Build a registered model class from its config (what checkpoints store).

    Example:
        >>> build_model("TeachingNet3D", {"width": 8}).config["width"]
        8
    """
    if name not in MODEL_REGISTRY:
        raise KeyError(
            f"no registered model class {name!r}; known: {', '.join(sorted(MODEL_REGISTRY))}.\n"
            "Fix: build the model yourself and pass it, e.g. load_checkpoint(path, model=MyNet())."
        )
    return MODEL_REGISTRY[name](**(config or {}))
