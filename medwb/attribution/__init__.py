"""Attribution methods for 3D models and their evaluation (torch and captum; imported on use).

``explain(model, volume, method=..., target=...)`` → Attribution (see medwb.attribution.core).
Evaluation: localisation (mass in mask, voxel-wise AUC) and pointing game, deletion/insertion curves
with an in-distribution baseline (faithfulness; baselines live in baselines), the cascading
model-parameter randomisation sanity check (sanity), figures (plots).
"""

from medwb.attribution.core import METHODS, ExplainWarning, explain
from medwb.attribution.memory import MemoryBudgetError
from medwb.attribution.metrics import (
    deletion_insertion,
    infidelity,
    localisation,
    localisation_auc,
    localisation_table,
    pointing_game,
    sensitivity,
)
from medwb.attribution.result import Attribution
from medwb.attribution.sanity import randomisation_check
from medwb.attribution.targets import LayerNotFoundError, Region, conv_layers

__all__ = [
    "explain", "Attribution", "METHODS", "Region", "ExplainWarning", "LayerNotFoundError",
    "MemoryBudgetError", "conv_layers",
    "localisation", "localisation_auc", "pointing_game", "localisation_table", "deletion_insertion", "infidelity", "sensitivity",
    "randomisation_check",
]

