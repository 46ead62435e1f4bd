"""3D networks, data preparation, training, prediction and checkpoints (torch; imported on use).

Example:
    >>> from medwb.models import Preprocess, TeachingNet3D, predict, seed_everything
    >>> seed_everything(0)
    >>> net = TeachingNet3D(width=4)          # then: history = train(net, cohort, epochs=20)
    >>> ct = medwb.Volume.from_geometry(np.zeros((32, 32, 32), np.int16), spacing=(3.0,) * 3, modality="CT")
    >>> predict(net, ct, preprocess=Preprocess(shape=(32, 32, 32)), progress=False).columns.tolist()
    ['prob', 'predicted', 'label']
"""

from medwb.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, state_fingerprint
from medwb.models.data import Augment, CohortDataset, Preprocess, VolumeDataset, cohort_fingerprint
from medwb.models.device import amp_available, pick_device
from medwb.models.inference import inference_mode
from medwb.models.nets import MODEL_REGISTRY, TeachingNet3D, build_model
from medwb.models.recipe import COURSE_RECIPE, TrainingRecipe
from medwb.models.train import deterministic, evaluate, predict, roc_auc, seed_everything, train

__all__ = [
    "TeachingNet3D", "MODEL_REGISTRY", "build_model",
    "TrainingRecipe", "COURSE_RECIPE",
    "Preprocess", "Augment", "VolumeDataset", "CohortDataset", "cohort_fingerprint",
    "pick_device", "amp_available", "inference_mode",
    "train", "evaluate", "predict", "roc_auc", "seed_everything", "deterministic",
    "save_checkpoint", "load_checkpoint", "CheckpointError", "state_fingerprint",
]
