"""Pick the torch device a model runs on: CUDA, then Apple MPS, then CPU, unless told otherwise.

The override order is: the ``device`` argument, then the ``MEDWB_DEVICE`` environment variable,
then automatic detection. Nothing here moves data; it only answers "where".
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["pick_device", "amp_available"]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: ``device`` if given, else $MEDWB_DEVICE, else cuda → mps → cpu.

    Args:
        device: "cpu", "cuda", "cuda:1", "mps", a torch.device, "auto" or None (automatic).

    Example:
        >>> pick_device("cpu").type
        'cpu'
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        device = os.environ.get("MEDWB_DEVICE") or "auto"
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            dev = torch.device(device)
        except RuntimeError as err:
            raise ValueError(
                f"unknown device {device!r}.\nFix: use 'cpu', 'cuda', 'cuda:0', 'mps' or 'auto'."
            ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {str(dev)!r} was asked for but this torch ({torch.__version__}) sees no CUDA GPU.\n"
            "Fix: use device='auto' (falls back to CPU), or install a CUDA build of torch on a GPU machine."
        )
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' was asked for but Apple MPS is not available.\nFix: use device='auto'.")
    return dev


def amp_available(device: torch.device) -> bool:
    """True where automatic mixed precision is used by medwb (CUDA only; CPU autocast is slower)."""
    return device.type == "cuda"
