"""Run a model for inference and put it back exactly as it was: one context manager for all callers.

explain(), the attribution metrics, predict/evaluate and the deep features all need the model in eval
mode (BatchNorm on its running statistics, dropout off) for the duration of a call, and must not leave
it changed. ``model.eval(); ...; model.train(was)`` is not enough: ``train(was)`` sets *every*
submodule to the top module's flag, so a net whose BatchNorm was deliberately frozen in eval mode
inside a training model comes back with that BatchNorm training. ``inference_mode`` saves each
submodule's own flag and restores each one, and (with ``freeze=True``) turns off ``requires_grad`` on
the parameters for the call and restores every parameter's own flag afterwards.

Example:
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train()
    >>> _ = net[1].eval()  # a frozen BatchNorm inside a training model
    >>> with inference_mode(net):
    ...     net.training, net[1].training
    (False, False)
    >>> net.training, net[0].training, net[1].training
    (True, True, False)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["inference_mode"]


@contextmanager
def inference_mode(model: nn.Module, *, freeze: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` and every submodule in eval mode for the block; restore each one's flag after.

    Args:
        model: any torch module.
        freeze: also set ``requires_grad=False`` on every parameter for the block (saves the memory
            of weight gradients when only input gradients, or none, are wanted); each parameter's
            own flag is restored afterwards. Leave it False for methods that need gradients to flow
            through the weights' graph (Grad-CAM hooks a layer's output, which needs some upstream
            tensor, input or weight, to require grad).

    The flags are restored even when the block raises. Gradients are not turned off: wrap the
    forward in ``torch.no_grad()`` where none are wanted.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"inference_mode needs a torch.nn.Module, got {type(model).__name__}.\n"
                        "Fix: pass the network itself (e.g. the model returned by load_checkpoint).")
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()] if freeze else []
    try:
        model.eval()
        for p, _ in grads:
            p.requires_grad_(False)
        yield model
    finally:
        for m, was in modes:
            m.training = was
        for p, was in grads:
            p.requires_grad_(was)
