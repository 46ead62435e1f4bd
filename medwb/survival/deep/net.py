"""A survival network for image + clinical data: a 3D CNN branch and a clinical branch, fused late.

Both branches end in one number on the log-hazard scale and the fusion is their sum, so the network is
a proportional-hazards model whose log relative hazard is ``eta = f(image) + g(clinical)``:
``mode="image"`` keeps f only, ``mode="clinical"`` g only, ``mode="fusion"`` both, from the same code.
g is linear by default (``clinical_hidden=0``): its weights are then log hazard ratios per unit of the
standardised covariate, which is what lets the network's hazard ratios sit beside the truth's.
The image branch is medwb.models.TeachingNet3D with one output (its Grad-CAM layer:
``image.features.conv4``).

Heads: ``"cox"`` returns eta (N, 1), trained with torchsurv's Cox partial likelihood; ``"weibull"``
returns torchsurv's Weibull parameters (N, 2) = (log scale, log shape) with one shape for everyone and
log scale = b - eta / shape, so that eta is still the log relative hazard (a Weibull PH model).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medwb.models.nets import TeachingNet3D

__all__ = ["SurvivalNet", "MODES", "HEADS"]

MODES = ("fusion", "image", "clinical")
HEADS = ("cox", "weibull")


class SurvivalNet(nn.Module):
    """Late-fusion survival network: ``forward(image, clinical)`` -> (N, 1) log hazard or (N, 2) Weibull.

    Args:
        n_clinical: clinical inputs (standardised covariates). mode: "fusion", "image" or "clinical".
        head: "cox" or "weibull". width, dropout: of the image branch (TeachingNet3D).
        clinical_hidden: 0 = linear clinical branch (default); > 0 = one hidden layer of that size.
        log_time_scale: initial Weibull log scale (log days), e.g. log of the median follow-up.

    Example:
        >>> net = SurvivalNet(n_clinical=3, width=4)
        >>> net(torch.zeros(2, 1, 16, 16, 16), torch.zeros(2, 3)).shape
        torch.Size([2, 1])
        >>> SurvivalNet(3, mode="clinical", head="weibull")(None, torch.zeros(2, 3)).shape
        torch.Size([2, 2])
    """

    def __init__(self, n_clinical: int = 3, mode: str = "fusion", head: str = "cox", width: int = 8,
                 dropout: float = 0.2, clinical_hidden: int = 0, log_time_scale: float = 6.5) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}. Fix: mode='fusion', 'image' or 'clinical'.")
        if head not in HEADS:
            raise ValueError(f"head {head!r} is not one of {HEADS}. Fix: head='cox' (partial likelihood) or 'weibull'.")
        if mode != "image" and n_clinical < 1:
            raise ValueError(f"mode={mode!r} needs clinical covariates (n_clinical={n_clinical}). Fix: mode='image'.")
        self.config: dict[str, Any] = {"n_clinical": n_clinical, "mode": mode, "head": head, "width": width,
                                       "dropout": dropout, "clinical_hidden": clinical_hidden,
                                       "log_time_scale": log_time_scale}
        self.mode, self.head = mode, head
        self.image = TeachingNet3D(1, n_classes=1, width=width, dropout=dropout) if mode != "clinical" else None
        self.clinical: nn.Module | None = None
        if mode != "image":
            self.clinical = nn.Linear(n_clinical, 1) if clinical_hidden <= 0 else nn.Sequential(
                nn.Linear(n_clinical, clinical_hidden), nn.ReLU(), nn.Linear(clinical_hidden, 1))
        if isinstance(self.clinical, nn.Linear):  # start at "no effect" (HR 1), not at random hazard ratios
            nn.init.zeros_(self.clinical.weight)
            nn.init.zeros_(self.clinical.bias)
        if head == "weibull":
            self.log_shape = nn.Parameter(torch.zeros(1))
            self.log_scale = nn.Parameter(torch.full((1,), float(log_time_scale)))

    def log_hazard(self, image: torch.Tensor | None, clinical: torch.Tensor | None) -> torch.Tensor:
        """eta = f(image) + g(clinical), shape (N, 1): the log relative hazard (higher = worse)."""
        parts = []
        if self.image is not None:
            if image is None:
                raise ValueError("this network has an image branch: pass the image tensor (N, 1, D, H, W).")
            parts.append(self.image(image))
        if self.clinical is not None:
            if clinical is None:
                raise ValueError("this network has a clinical branch: pass the clinical tensor (N, n_clinical).")
            parts.append(self.clinical(clinical))
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]

    def forward(self, image: torch.Tensor | None, clinical: torch.Tensor | None = None) -> torch.Tensor:
        eta = self.log_hazard(image, clinical)
        if self.head == "cox":
            return eta
        shape = self.log_shape.exp()
        return torch.cat([self.log_scale - eta / shape, self.log_shape.expand_as(eta)], dim=1)
