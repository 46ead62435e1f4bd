"""Save and load model checkpoints safely: weights + config + provenance, never pickled objects.

A medwb checkpoint is a dict of tensors and plain values, loadable with
``torch.load(path, weights_only=True)`` (no code runs on load). A file holding a pickled whole model
(``torch.save(model)``) is refused: unpickling can run arbitrary code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from medwb.models.nets import MODEL_REGISTRY, build_model
from medwb.provenance import flat_provenance, state_fingerprint

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "state_fingerprint"]

FORMAT = "medwb-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot (or must not) be loaded."""


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    preprocess: Any = None,
    seed: int | None = None,
    data_hash: str | None = None,
    history: Any = None,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s state_dict with its config and provenance to ``path``.

    Args:
        model: the trained model; its class name and ``model.config`` (if any) are stored so that
            registered classes (medwb.models.MODEL_REGISTRY) rebuild without code.
        preprocess: the Preprocess the model expects (stored as a dict, restored on load).
        seed, data_hash: training seed and medwb.models.cohort_fingerprint of the training data.
        history: the training history DataFrame (stored as plain lists).
        config: model constructor arguments when the model has no ``.config``.
        extra: any other plain values (str, numbers, lists, dicts).

    Example:
        >>> import torch
        >>> from medwb.models import Preprocess, TeachingNet3D, load_checkpoint
        >>> net = TeachingNet3D(width=4)
        >>> pp = Preprocess(shape=(32, 32, 32))
        >>> path = save_checkpoint(tmp_path / "net.pt", net, preprocess=pp, seed=0)
        >>> net2, info = load_checkpoint(path)                    # rebuilt from the stored class and config
        >>> type(net2).__name__, net2.config["width"], info["preprocess"].shape
        ('TeachingNet3D', 4, (32, 32, 32))
        >>> all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), net2.state_dict().values()))
        True
    """
    path = Path(path)
    cfg = dict(config if config is not None else getattr(model, "config", {}) or {})
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    hist = None
    if history is not None:
        hist = {str(c): [None if v != v else v for v in history[c].tolist()] for c in history.columns}
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "model_config": cfg,
        "state_dict": state,
        "preprocess": preprocess.to_dict() if hasattr(preprocess, "to_dict") else preprocess,
        "provenance": flat_provenance(model=model, time_key="saved_at", seed=seed, data_hash=data_hash),
        "history": hist,
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def load_checkpoint(
    path: str | Path, model: nn.Module | None = None, *, map_location: str | torch.device = "cpu",
    strict: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint with ``torch.load(weights_only=True)``; return (model in eval mode, info).

    Args:
        model: an instance to load the weights into; None rebuilds a registered class from the
            stored config. A plain state_dict file (not written by medwb) needs ``model``.
        strict: passed to load_state_dict.

    ``info`` holds "model_class", "model_config", "preprocess" (a Preprocess or None),
    "provenance", "history" (DataFrame or None) and "extra".
    """
    import pickle

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} holds pickled Python objects (probably a whole model saved with torch.save(model)); "
            "medwb refuses to unpickle it because loading a pickle can run arbitrary code.\n"
            "Fix: where the file was made (and only if you trust it), re-save the weights with "
            "medwb.models.save_checkpoint(path, model) or torch.save(model.state_dict(), path), then load "
            "that file here."
        ) from err
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if obj.get("format_version", 0) > FORMAT_VERSION:
            raise CheckpointError(
                f"{path} is a medwb checkpoint of format version {obj['format_version']}; this medwb reads "
                f"up to {FORMAT_VERSION}.\nFix: upgrade medwb."
            )
        state, info = obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    elif isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, info = obj, {"model_class": None, "model_config": {}, "preprocess": None,
                            "provenance": {}, "history": None, "extra": {}}
    else:
        raise CheckpointError(
            f"{path} is neither a medwb checkpoint nor a state_dict (got {type(obj).__name__}).\n"
            "Fix: save with medwb.models.save_checkpoint(path, model)."
        )
    if model is None:
        name = info.get("model_class")
        if name is None or name not in MODEL_REGISTRY:
            raise CheckpointError(
                f"{path} holds weights of {name or 'an unnamed model'}, which medwb cannot rebuild by itself "
                f"(registered: {', '.join(sorted(MODEL_REGISTRY))}).\n"
                "Fix: build the model and pass it: load_checkpoint(path, model=MyNet(...))."
            )
        model = build_model(name, info.get("model_config"))
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise CheckpointError(
            f"the weights in {path} do not fit {type(model).__name__}: {err}\n"
            f"Fix: build the model with the stored config {info.get('model_config')}."
        ) from err
    model.to(map_location)
    model.eval()
    if info.get("preprocess") is not None:
        from medwb.models.data import Preprocess

        info["preprocess"] = Preprocess.from_dict(info["preprocess"])
    if info.get("history") is not None:
        import pandas as pd

        info["history"] = pd.DataFrame(info["history"])
    return model, info
