"""Provenance: where a number came from — which pixels, which weights, which code, which settings.

A provenance record is a plain JSON-able dict with four parts:

- ``data``: case id, DICOM series/study UIDs from the Volume's meta, and a pixel hash (BLAKE2b of the
  voxel bytes together with shape, dtype and affine, so a re-sampled or shifted image hashes differently);
- ``model``: class, config and a weights hash (``state_fingerprint``: SHA-256 over every
  state_dict tensor, the same hash checkpoints and explain() record);
- ``versions``: medwb, torch, captum, lifelines, numpy, python (read from package metadata, so
  nothing heavy is imported);
- ``run``: seed, parameters, device, host, timestamp.

``render`` turns a record into a few lines of text (or a short dict) for notebooks and widgets;
``to_columns`` flattens it into ``prov_*`` columns for a results table. Nothing here imports torch
unless a model is given.

This module is the one home of provenance: the structured records above (``make_provenance``, used by
the pipeline) and the flat stamp that checkpoints and explain()'s Attribution carry
(``flat_provenance``) are built from the same parts (``versions``, ``state_fingerprint``,
``pixel_hash``, ``utc_now``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import socket
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from medwb.volume import Volume

__all__ = [
    "pixel_hash", "state_fingerprint", "data_identity", "model_identity", "versions", "utc_now",
    "make_provenance", "flat_provenance", "render", "to_columns", "write_sidecar", "read_sidecar",
    "VERSION_PACKAGES",
]

#: Packages whose versions every record carries (missing ones are recorded as "not installed").
VERSION_PACKAGES = ("medwb", "torch", "captum", "lifelines", "numpy", "pandas", "pydicom", "dask")

_RENDER_SKIP = ("device", "seed", "pin_memory", "torch_threads", "save")  # shown elsewhere or not telling
_SERIES_KEYS = ("series_uid", "study_uid", "frame_of_reference_uid", "sop_class_uid", "modality", "source")


def pixel_hash(volume: Volume | np.ndarray, affine: np.ndarray | None = None, digest_size: int = 16) -> str:
    """BLAKE2b hex digest of the voxels, their shape and dtype and (for a Volume) the affine.

    Changing one voxel, the dtype, the shape or the geometry changes the hash; loading the same series
    twice, from DICOM or a copy of it, gives the same hash.

    Example:
        >>> a = np.zeros((4, 4, 4), np.int16)
        >>> b = a.copy(); b[1, 2, 3] = 1
        >>> pixel_hash(a) == pixel_hash(a.copy()), pixel_hash(a) == pixel_hash(b)
        (True, False)
    """
    if isinstance(volume, Volume):
        arr, aff = volume.array, volume.affine if affine is None else affine
    else:
        arr, aff = np.asarray(volume), affine
    arr = np.ascontiguousarray(arr)
    h = hashlib.blake2b(digest_size=digest_size)
    h.update(b"medwb-pixels-v1")
    h.update(json.dumps({"shape": list(arr.shape), "dtype": arr.dtype.str}).encode())
    if aff is not None:
        h.update(np.ascontiguousarray(np.asarray(aff, dtype=np.float64)).tobytes())
    h.update(memoryview(arr).cast("B") if arr.size else b"")
    return h.hexdigest()


def state_fingerprint(model: Any) -> str:
    """Short SHA-256 of a torch model's parameters and buffers (its state_dict, by sorted name).

    The weights hash of every provenance record, checkpoint and Attribution: one changed weight or
    buffer (e.g. BatchNorm running statistics) gives another hash; the device does not matter.

    Example:
        >>> import torch.nn as nn, torch
        >>> net = nn.Linear(2, 1)
        >>> before = state_fingerprint(net)
        >>> with torch.no_grad():
        ...     _ = net.bias.add_(1.0)
        >>> len(before), before == state_fingerprint(net)
        (16, False)
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def utc_now() -> str:
    """The time stamp of every record: UTC, ISO 8601, whole seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def data_identity(volume: Volume, case_id: str | None = None, source: str | os.PathLike | None = None
                  ) -> dict[str, Any]:
    """Identity of one image: case id, series/study UIDs from ``volume.meta``, pixel hash, geometry.

    Example:
        >>> v = Volume.from_geometry(np.zeros((2, 3, 4), np.int16))
        >>> sorted(data_identity(v, "c1"))[:4]
        ['case_id', 'dtype', 'pixel_hash', 'shape']
    """
    meta = volume.meta or {}
    out: dict[str, Any] = {
        "case_id": str(case_id if case_id is not None else meta.get("case_id", "")),
        "pixel_hash": pixel_hash(volume),
        "shape": [int(s) for s in volume.shape],
        "dtype": str(volume.array.dtype),
        "spacing_mm": [round(float(s), 6) for s in volume.spacing],
    }
    for key in _SERIES_KEYS:
        if meta.get(key) not in (None, ""):
            out[key] = str(meta[key])
    if source is not None:
        out["image"] = str(source)
    return out


def model_identity(model: Any, checkpoint: str | os.PathLike | None = None) -> dict[str, Any]:
    """Class, config, parameter count and weights hash of a torch model (torch imported here).

    The weights hash is ``state_fingerprint`` (every parameter and buffer), so one changed weight
    gives another hash, and it matches what checkpoints and explain() record.
    """
    out: dict[str, Any] = {
        "model_class": type(model).__name__,
        "weights_hash": state_fingerprint(model),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    cfg = getattr(model, "config", None)
    if isinstance(cfg, Mapping):
        out["model_config"] = {str(k): v for k, v in cfg.items()}
    if checkpoint is not None:
        out["checkpoint"] = str(checkpoint)
    return out


@lru_cache(maxsize=1)
def _versions_cached() -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in VERSION_PACKAGES:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            out.append((name, "not installed"))
    out.append(("python", platform.python_version()))
    return tuple(out)


def versions() -> dict[str, str]:
    """Installed versions of medwb, torch, captum, lifelines, numpy, ... and python (no heavy imports).

    Example:
        >>> versions()["python"] == platform.python_version()
        True
    """
    return dict(_versions_cached())


def make_provenance(
    *,
    volume: Volume | None = None,
    case_id: str | None = None,
    source: str | os.PathLike | None = None,
    model: Any = None,
    model_info: Mapping[str, Any] | None = None,
    seed: int | None = None,
    params: Mapping[str, Any] | None = None,
    device: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One provenance record (JSON-able dict) for a result.

    Args:
        volume: the image the result was computed from (hashed here), with ``case_id``/``source``.
        model: a torch model (identity computed here) or ``model_info`` already computed
            (model_identity's dict; cheaper when many results share one model).
        seed, params: everything that steers the computation (method, target, preprocessing, ...).
        device: where it ran ("cpu", "cuda:0").

    Example:
        >>> p = make_provenance(volume=Volume.from_geometry(np.zeros((2, 2, 2))), case_id="c1", seed=0)
        >>> p["data"]["case_id"], p["run"]["seed"], "torch" in p["versions"]
        ('c1', 0, True)
    """
    rec: dict[str, Any] = {"schema": "medwb-provenance/1"}
    if volume is not None:
        rec["data"] = data_identity(volume, case_id, source)
    elif case_id is not None:
        rec["data"] = {"case_id": str(case_id), **({"image": str(source)} if source is not None else {})}
    if model is not None:
        rec["model"] = model_identity(model)
    elif model_info is not None:
        rec["model"] = dict(model_info)
    rec["versions"] = versions()
    rec["run"] = {
        "seed": seed,
        "params": _jsonable(dict(params or {})),
        "device": device,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "created_at": utc_now(),
    }
    if extra:
        rec["extra"] = _jsonable(dict(extra))
    return rec


def flat_provenance(
    *,
    model: Any = None,
    input_array: np.ndarray | None = None,
    device: str | None = None,
    time_key: str = "created_at",
    **fields: Any,
) -> dict[str, Any]:
    """The flat provenance stamp that checkpoints and explain()'s Attribution carry.

    Keys: every ``versions()`` entry (medwb, torch, captum, ..., python), ``model_class`` and
    ``weights_hash`` (``state_fingerprint``) when a model is given, ``input_hash`` (``pixel_hash``
    of ``input_array``) when one is given, ``device`` when given, the time under ``time_key``, then
    ``fields`` (seed, data_hash, ...). ``render`` reads it as well as the structured records.

    Example:
        >>> p = flat_provenance(input_array=np.zeros((2, 2, 2), np.float32), seed=1, data_hash="abc")
        >>> p["seed"], p["data_hash"], p["input_hash"] == pixel_hash(np.zeros((2, 2, 2), np.float32))
        (1, 'abc', True)
    """
    out: dict[str, Any] = dict(versions())
    if model is not None:
        out["model_class"] = type(model).__name__
        out["weights_hash"] = state_fingerprint(model)
    if input_array is not None:
        out["input_hash"] = pixel_hash(input_array)
    if device is not None:
        out["device"] = str(device)
    out[time_key] = utc_now()
    out.update(fields)
    return out


def _short(value: Any, n: int = 12) -> str:
    s = str(value)
    return s if len(s) <= n + 1 else s[:n] + "…"


def _uid_tail(uid: str, n: int = 16) -> str:
    return uid if len(uid) <= n + 1 else "…" + uid[-n:]


def render(record: Mapping[str, Any], style: str = "text") -> str | dict[str, str]:
    """A provenance record as a few short lines (``style="text"``) or a flat dict of short strings
    (``style="dict"``, e.g. for an ipywidgets HTML table). Also takes the flat ``provenance`` dicts of
    explain()'s Attribution and of load_checkpoint's info, so a widget needs one function for all.

    Example:
        >>> p = make_provenance(volume=Volume.from_geometry(np.zeros((2, 2, 2))), case_id="c1", seed=3)
        >>> print(render(p).splitlines()[0][:20])
        data     c1 · pixels
        >>> render(p, "dict")["seed"]
        '3'
    """
    if style not in ("text", "dict"):
        raise ValueError(f"style must be 'text' or 'dict', got {style!r}")
    record = _structured(record)
    d, m = record.get("data", {}) or {}, record.get("model", {}) or {}
    run, ver = record.get("run", {}) or {}, record.get("versions", {}) or {}
    params = run.get("params", {}) or {}
    short: dict[str, str] = {}
    if d:
        short["case"] = str(d.get("case_id", ""))
        if d.get("series_uid"):
            short["series"] = _uid_tail(str(d["series_uid"]))
        if d.get("pixel_hash"):
            short["pixels"] = _short(d["pixel_hash"]) + (
                f" ({'×'.join(map(str, d.get('shape', [])))} {d.get('dtype', '')})" if d.get("shape") else "")
    if m:
        short["model"] = str(m.get("model_class", "?"))
        short["weights"] = _short(m.get("weights_hash", "?"))
        if m.get("checkpoint"):
            short["checkpoint"] = Path(str(m["checkpoint"])).name
    short["seed"] = str(run.get("seed"))
    if params:
        shown = {k: "/".join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in params.items()
                 if k not in _RENDER_SKIP and not isinstance(v, dict) and v not in (None, "", [], ())}
        short["params"] = ", ".join(f"{k}={_short(v, 40)}" for k, v in shown.items())
    short["device"] = str(run.get("device"))
    short["when"] = str(run.get("created_at", ""))
    short["versions"] = ", ".join(f"{k} {v}" for k, v in ver.items() if v != "not installed")
    if style == "dict":
        return short
    lines = []
    if d:
        lines.append(f"data     {short['case']} · pixels {short.get('pixels', '?')}"
                     + (f" · series {short['series']}" if "series" in short else ""))
    if m:
        lines.append(f"model    {short['model']} · weights {short['weights']}"
                     + (f" · {short['checkpoint']}" if "checkpoint" in short else ""))
    lines.append(f"run      seed {short['seed']} · {short['device']} · {short['when']}")
    if "params" in short:
        lines.append(f"params   {short['params']}")
    lines.append(f"versions {short['versions']}")
    return "\n".join(lines)


def _structured(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept the flat provenance dicts of explain()'s Attribution and of checkpoints as well."""
    if any(k in record for k in ("data", "model", "run", "versions")):
        return record
    flat = dict(record)
    ver = {k: str(flat.pop(k)) for k in [*VERSION_PACKAGES, "python"] if k in flat}
    model = {k: flat.pop(k) for k in ("model_class", "weights_hash") if k in flat}
    data = {"case_id": "input", "pixel_hash": flat.pop("input_hash")} if "input_hash" in flat else {}
    when = flat.pop("created_at", flat.pop("saved_at", ""))
    run = {"seed": flat.pop("seed", None), "device": flat.pop("device", None), "created_at": when,
           "params": {k: v for k, v in flat.items() if isinstance(v, (str, int, float, bool))}}
    return {"data": data, "model": model, "versions": ver, "run": run}


def to_columns(record: Mapping[str, Any], prefix: str = "prov_") -> dict[str, Any]:
    """The identifying fields of a record as flat columns for a results table (one row per case)."""
    d, m = record.get("data", {}) or {}, record.get("model", {}) or {}
    run, ver = record.get("run", {}) or {}, record.get("versions", {}) or {}
    cols: dict[str, Any] = {
        "pixel_hash": d.get("pixel_hash"),
        "series_uid": d.get("series_uid"),
        "study_uid": d.get("study_uid"),
        "weights_hash": m.get("weights_hash"),
        "model_class": m.get("model_class"),
        "seed": run.get("seed"),
        "device": run.get("device"),
        "created_at": run.get("created_at"),
    }
    for k in ("medwb", "torch", "captum", "lifelines", "numpy", "python"):
        cols[f"{k}_version"] = ver.get(k)
    return {prefix + k: v for k, v in cols.items()}


def write_sidecar(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write a record as pretty JSON (atomically: a partial file never replaces a good one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_jsonable(dict(record)), indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON sidecar written by write_sidecar."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no provenance sidecar at {path}.\nFix: check the case id and the run folder.")
    return json.loads(path.read_text())


def _jsonable(value: Any) -> Any:
    """Make numpy scalars/arrays, tuples, paths and other objects JSON-safe (recursively)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"array{list(value.shape)}"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return str(value)
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return repr(value)
