"""Attribution methods for 3D models and their evaluation (torch and captum; imported on use).

``explain(model, volume, method=..., target=...)`` → Attribution (see medwb.explain.core).
Evaluation: localisation and pointing game, deletion/insertion curves (metrics), the cascading
model-parameter randomisation sanity check (sanity), figures (plots).
"""

from medwb.explain.attribution import Attribution
from medwb.explain.core import METHODS, ExplainWarning, explain
from medwb.explain.memory import MemoryBudgetError
from medwb.explain.metrics import (
    deletion_insertion,
    infidelity,
    localisation,
    localisation_table,
    pointing_game,
    sensitivity,
)
from medwb.explain.sanity import randomisation_check
from medwb.explain.targets import LayerNotFoundError, Region, conv_layers

__all__ = [
    "explain", "Attribution", "METHODS", "Region", "ExplainWarning", "LayerNotFoundError",
    "MemoryBudgetError", "conv_layers",
    "localisation", "pointing_game", "localisation_table", "deletion_insertion", "infidelity", "sensitivity",
    "randomisation_check",
]


class _CallableModule(__import__("types").ModuleType):
    """Makes ``medwb.explain(model, volume, ...)`` work whether ``medwb.explain`` resolves to this
    package or to the function: Python rebinds a package attribute to the submodule on first import,
    which would otherwise shadow a top-level ``explain`` function."""

    def __call__(self, *args: object, **kwargs: object) -> Attribution:
        return explain(*args, **kwargs)  # type: ignore[arg-type]


__import__("sys").modules[__name__].__class__ = _CallableModule
