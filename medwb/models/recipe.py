"""Training recipes: everything that turns a cohort into a trained model, written down once.

A ``TrainingRecipe`` names the preprocessing, the network, the seed and the training settings.
``build()`` makes the seeded, untrained network; ``train(net, cohort)`` runs medwb.models.train with
the recipe's settings. ``COURSE_RECIPE`` is the course's: notebook 02 trains it step by step and
medwb.teaching.course_model() reuses it, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from torch import nn

from medwb.models.data import Augment, Preprocess
from medwb.models.nets import build_model
from medwb.models.train import seed_everything, train

__all__ = ["TrainingRecipe", "COURSE_RECIPE"]


@dataclass(frozen=True)
class TrainingRecipe:
    """Preprocessing, network and training settings, kept together (and compared, and stored) as one.

    Args:
        preprocess: what every CT goes through before the network sees it.
        model: a name from medwb.models.MODEL_REGISTRY; ``model_config`` its settings.
        epochs, seed, val_fraction, augment: passed to medwb.models.train (see there).

    Example:
        >>> recipe = TrainingRecipe(Preprocess(None, None, (8, 8, 8)), model_config={"width": 4}, epochs=1)
        >>> net = recipe.build()            # seeded: the same recipe gives the same initial weights
        >>> type(net).__name__, recipe.train_kwargs()["epochs"]
        ('TeachingNet3D', 1)
    """

    preprocess: Preprocess = field(default_factory=Preprocess)
    model: str = "TeachingNet3D"
    model_config: dict[str, Any] = field(default_factory=dict)
    epochs: int = 12
    seed: int = 0
    val_fraction: float = 0.2
    augment: Augment | None = field(default_factory=lambda: Augment(rotate_degrees=0.0))

    def build(self) -> nn.Module:
        """The untrained network, its weights drawn after seed_everything(seed)."""
        seed_everything(self.seed)
        return build_model(self.model, self.model_config)

    def train_kwargs(self) -> dict[str, Any]:
        """The keyword arguments this recipe gives medwb.models.train."""
        return {"epochs": self.epochs, "seed": self.seed, "preprocess": self.preprocess,
                "augment": self.augment, "val_fraction": self.val_fraction}

    def train(self, net: nn.Module, data: Any, **overrides: Any) -> pd.DataFrame:
        """Train ``net`` on ``data`` (a Cohort or dataset) with this recipe; returns the history.

        ``overrides`` are train()'s other arguments (callback, progress, device, ...); a recipe
        setting given here wins, e.g. epochs=2 for a quick try.
        """
        return train(net, data, **{**self.train_kwargs(), **overrides})


#: The course's recipe: brain window, 4 mm voxels, 32 × 48 × 48 (128 × 192 × 192 mm), the teaching net,
#: 12 epochs, seed 0, left–right flips and intensity changes (no rotations: they cost time on a CPU).
#: Coarser than Preprocess() (3 mm, 64³): a demo case is 160 mm thick, so 64 slices at 3 mm would be
#: 40% padding; 4 mm keeps the lesions' rims visible and makes training and attribution about five
#: times cheaper, which a class on Binder needs.
COURSE_RECIPE = TrainingRecipe(preprocess=Preprocess(window="brain", spacing=4.0, shape=(32, 48, 48)))
