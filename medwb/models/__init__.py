"""3D networks, data preparation, training, prediction and checkpoints (torch; imported on use).

Example:
    >>> from medwb.models import TeachingNet3D, train, evaluate, seed_everything
    >>> seed_everything(0); net = TeachingNet3D()
    >>> # history = train(net, cohort, epochs=20)
"""

from medwb.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, state_fingerprint
from medwb.models.data import Augment, CohortDataset, Preprocess, VolumeDataset, cohort_fingerprint
from medwb.models.device import amp_available, pick_device
from medwb.models.nets import MODEL_REGISTRY, TeachingNet3D, build_model
from medwb.models.train import deterministic, evaluate, predict, roc_auc, seed_everything, train

__all__ = [
    "TeachingNet3D", "MODEL_REGISTRY", "build_model",
    "Preprocess", "Augment", "VolumeDataset", "CohortDataset", "cohort_fingerprint",
    "pick_device", "amp_available",
    "train", "evaluate", "predict", "roc_auc", "seed_everything", "deterministic",
    "save_checkpoint", "load_checkpoint", "CheckpointError", "state_fingerprint",
]
