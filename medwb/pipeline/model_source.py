"""ModelSource: a model in a form that travels to worker processes and is built there once.

A pipeline never ships a live ``nn.Module`` with every task. It ships a ModelSource — a checkpoint
path, or the checkpoint's bytes (weights + config + Preprocess) — and each process builds the model
from it once and keeps it in a small per-process cache keyed by weights hash and device. With a Dask
client the source is scattered to every worker once (``client.scatter(..., broadcast=True)``).

Registered classes (medwb.models.MODEL_REGISTRY) rebuild from their config alone. Any other model
class travels pickled (by reference to its class, so the class must be importable on the workers).
"""

from __future__ import annotations

import io
import os
import pickle
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = ["ModelSource", "as_model_source", "build_model_once", "build_count", "clear_model_cache"]

_CACHE: dict[tuple[str, str], tuple[Any, Any, dict[str, Any]]] = {}
_LOCK = threading.Lock()
_BUILDS = [0]  # models built in this process (build_count())


@dataclass(frozen=True)
class ModelSource:
    """Where a pipeline's model comes from: a checkpoint file or checkpoint bytes (picklable, small).

    Attributes:
        weights_hash: medwb.models.state_fingerprint of the weights (cache key and provenance).
        checkpoint: path of a medwb checkpoint (workers must see the same file system), or None.
        payload: a medwb checkpoint serialised with torch.save (registered classes) or a pickled
            model (other classes), when no path is used.
        preprocess: the Preprocess as a dict (overrides the checkpoint's); None = the checkpoint's,
            else medwb.models.Preprocess().
        info: model class, config, checkpoint provenance (for the run's provenance record).
    """

    weights_hash: str
    checkpoint: str | None = None
    payload: bytes | None = field(default=None, repr=False)
    pickled: bool = False
    preprocess: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def build(self, device: str | torch.device | None = None) -> tuple[nn.Module, Any, dict[str, Any]]:
        """(model in eval mode on ``device``, Preprocess, model identity) — built once per process."""
        return build_model_once(self, device)


def as_model_source(model_or_checkpoint: Any, preprocess: Any = None) -> ModelSource:
    """Turn a checkpoint path, an nn.Module or a ModelSource into a ModelSource.

    Args:
        model_or_checkpoint: a medwb checkpoint path (save_checkpoint), a torch model, or a ModelSource.
        preprocess: a medwb.models.Preprocess (or its dict) to use instead of the checkpoint's.

    Example:
        >>> from medwb.models import Preprocess, TeachingNet3D, save_checkpoint
        >>> ckpt = save_checkpoint(tmp_path / "net.pt", TeachingNet3D(width=4), preprocess=Preprocess())
        >>> model, pp, ident = as_model_source(ckpt).build("cpu")      # what each worker does, once
        >>> model.training, pp.shape, ident["model_class"], ident["n_parameters"]
        (False, (64, 64, 64), 'TeachingNet3D', 4502)
    """
    pp = preprocess.to_dict() if hasattr(preprocess, "to_dict") else preprocess
    if isinstance(model_or_checkpoint, ModelSource):
        if pp is None:
            return model_or_checkpoint
        return ModelSource(model_or_checkpoint.weights_hash, model_or_checkpoint.checkpoint,
                           model_or_checkpoint.payload, model_or_checkpoint.pickled, pp,
                           model_or_checkpoint.info)
    import torch
    from torch import nn

    from medwb.models.checkpoint import load_checkpoint, state_fingerprint
    from medwb.models.nets import MODEL_REGISTRY

    if isinstance(model_or_checkpoint, (str, os.PathLike)):
        path = Path(model_or_checkpoint).expanduser().resolve()
        model, info = load_checkpoint(path)
        ckpt_pp = info.get("preprocess")
        if pp is None and ckpt_pp is not None:
            pp = ckpt_pp.to_dict() if hasattr(ckpt_pp, "to_dict") else ckpt_pp
        meta = {"model_class": info.get("model_class"), "model_config": info.get("model_config"),
                "checkpoint": str(path), "checkpoint_provenance": info.get("provenance", {})}
        return ModelSource(state_fingerprint(model), checkpoint=str(path), preprocess=pp, info=meta)
    if isinstance(model_or_checkpoint, nn.Module):
        model = model_or_checkpoint
        name = type(model).__name__
        cfg = getattr(model, "config", None)
        meta = {"model_class": name, "model_config": dict(cfg) if isinstance(cfg, dict) else None}
        if MODEL_REGISTRY.get(name) is type(model) and isinstance(cfg, dict):
            buf = io.BytesIO()
            torch.save({"model_class": name, "model_config": dict(cfg),
                        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, buf)
            return ModelSource(state_fingerprint(model), payload=buf.getvalue(), preprocess=pp, info=meta)
        try:
            blob = pickle.dumps(_cpu_copy(model))
        except Exception as err:  # noqa: BLE001 - report any pickling failure the same way
            raise TypeError(
                f"cannot ship {name} to worker processes: pickling it failed ({err}).\n"
                "Fix: register the class in medwb.models.MODEL_REGISTRY and give it a .config dict, or save "
                "a checkpoint with medwb.models.save_checkpoint and pass its path."
            ) from err
        return ModelSource(state_fingerprint(model), payload=blob, pickled=True, preprocess=pp, info=meta)
    raise TypeError(
        f"run_pipeline needs a model: a checkpoint path, a torch nn.Module or a ModelSource; got "
        f"{type(model_or_checkpoint).__name__}.\nFix: pass save_checkpoint(...)'s path or the model itself."
    )


def _cpu_copy(model: Any) -> Any:
    import copy

    return copy.deepcopy(model).cpu()


def build_model_once(source: ModelSource, device: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """Build (or fetch from this process's cache) the model of ``source`` on ``device``."""
    import torch

    from medwb.models.device import pick_device

    dev = pick_device(device)
    key = (source.weights_hash + ("" if source.preprocess is None else repr(sorted(source.preprocess.items()))),
           str(dev))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from medwb.models.checkpoint import load_checkpoint, state_fingerprint
        from medwb.models.data import Preprocess
        from medwb.models.nets import build_model
        from medwb.provenance import model_identity

        pp_obj = None
        if source.checkpoint is not None:
            model, info = load_checkpoint(source.checkpoint, map_location="cpu")
            pp_obj = info.get("preprocess")
        elif source.pickled:
            model = pickle.loads(source.payload or b"")
        else:
            obj = torch.load(io.BytesIO(source.payload or b""), map_location="cpu", weights_only=True)
            model = build_model(obj["model_class"], obj["model_config"])
            model.load_state_dict(obj["state_dict"])
        if source.preprocess is not None:
            pp_obj = Preprocess.from_dict(source.preprocess)
        if pp_obj is None:
            pp_obj = Preprocess()
        got = state_fingerprint(model)
        if got != source.weights_hash:
            raise RuntimeError(
                f"the model built on this worker has weights {got}, not {source.weights_hash}: the checkpoint "
                f"{source.checkpoint} changed during the run.\nFix: do not overwrite a checkpoint while a "
                "pipeline uses it; save a new file instead."
            )
        model.eval()
        model.to(dev)
        _BUILDS[0] += 1
        ident = model_identity(model, source.checkpoint)
        _CACHE[key] = (model, pp_obj, ident)
        while len(_CACHE) > 4:  # a few models per process at most
            _CACHE.pop(next(iter(_CACHE)))
        return _CACHE[key]


def build_count() -> int:
    """How many models this process has built (a pipeline builds one per process and model)."""
    return _BUILDS[0]


def clear_model_cache() -> None:
    """Forget the models built in this process (frees their memory)."""
    with _LOCK:
        _CACHE.clear()
