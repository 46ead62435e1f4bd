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
