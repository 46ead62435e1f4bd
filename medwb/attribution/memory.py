"""Choose internal batch sizes for attribution methods from a memory budget.

An attribution method evaluates the model on many perturbed copies of one input (IG: n_steps points
on a path; SmoothGrad: noisy samples; occlusion: occluded copies). How many go through at once is a
memory/speed trade: measured on 2 CPU cores, batches of 1–4 are fastest for 3D nets (bigger batches
are slower and heavier), while GPUs like larger batches. The estimate: activation bytes of one
example (from forward hooks on every leaf module) × 2 for gradients.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MemoryBudgetError", "activation_bytes", "choose_batch", "DEFAULT_BUDGET", "parse_bytes"]

DEFAULT_BUDGET = 2 * 1024**3  #: 2 GiB
_CPU_CAP = 4  # batches above this were slower on CPU (DESIGN.md, facts measured)
_GPU_CAP = 64


class MemoryBudgetError(MemoryError):
    """One example alone does not fit in the memory budget."""


def parse_bytes(budget: int | float | str) -> int:
    """'2GiB', '512 MiB', '1.5GB' or a number of bytes -> bytes.

    Example:
        >>> parse_bytes("1.5 GiB") == int(1.5 * 1024**3)
        True
    """
    fix = "Fix: give a number of bytes or a size such as '2GiB', '512MiB' or '1.5GB'."
    if isinstance(budget, (int, float)) and not isinstance(budget, bool):
        value = float(budget)
    elif isinstance(budget, str):
        s = budget.strip().replace(" ", "").lower()
        units = {"gib": 1024**3, "mib": 1024**2, "kib": 1024, "gb": 10**9, "mb": 10**6, "kb": 10**3, "b": 1}
        factor = next((f for u, f in units.items() if s.endswith(u)), 1)
        number = next((s[: -len(u)] for u in units if s.endswith(u)), s)
        try:
            value = float(number) * factor
        except ValueError:
            raise ValueError(f"memory_budget is {budget!r}, which is not a size.\n{fix}") from None
    else:
        raise TypeError(f"memory_budget is a {type(budget).__name__} ({budget!r}), not a size.\n{fix}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"memory_budget is {budget!r}; it must be a positive, finite size.\n{fix}")
    return int(value)


def activation_bytes(model: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(bytes of all leaf-module outputs for one forward of ``x``, the output); no gradients kept."""
    total = [x.numel() * x.element_size()]

    def hook(_m: nn.Module, _i: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            total[0] += out.numel() * out.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return total[0], out


def choose_batch(per_example: int, budget: int, wanted: int, device: torch.device, *, what: str,
                 fix: str) -> int:
    """How many examples per model call fit ``budget``; at most ``wanted``; raise if not even one."""
    if per_example > budget:
        raise MemoryBudgetError(
            f"{what} needs about {per_example / 2**30:.2f} GiB per example, more than the memory budget of "
            f"{budget / 2**30:.2f} GiB.\nFix: {fix}, or raise memory_budget= (e.g. '8GiB') if the machine "
            "has the memory."
        )
    cap = _CPU_CAP if device.type == "cpu" else _GPU_CAP
    return max(1, min(wanted, cap, budget // max(per_example, 1)))
