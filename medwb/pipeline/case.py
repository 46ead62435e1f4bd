"""The per-case work of a pipeline: load → preprocess → predict → explain → features, with failures kept.

``run_chunk(cases, source, config)`` is the one function a task runs, in-process or on a Dask worker.
A chunk is one case on CPU (memory per worker thread = one case) or a small batch of cases on CUDA
(one batched forward pass, pinned host memory). Each case records the step it failed at and the
error; the other cases of the chunk carry on. Large arrays (preprocessed input, attribution map) are
written to ``out_dir`` as .npy at once and only their relative paths are returned, so what travels
back to the client is a few hundred bytes per case.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medwb.paths import safe_name
from medwb.pipeline.model_source import ModelSource
from medwb.provenance import make_provenance, to_columns, write_sidecar

__all__ = ["STEPS", "CaseSpec", "PipelineConfig", "run_chunk", "safe_name"]

STEPS = ("load", "preprocess", "predict", "explain", "features")


@dataclass(frozen=True)
class CaseSpec:
    """What a worker needs to process one case: its id and absolute file paths (no loaded data)."""

    case_id: str
    image: str | None
    mask: str | None = None
    label: float | None = None


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that steers a run (picklable; recorded in every case's provenance)."""

    out_dir: str
    steps: tuple[str, ...] = STEPS
    explain_method: str = "saliency"
    target: int | str = 1
    explain_kwargs: dict[str, Any] = field(default_factory=dict)
    families: tuple[str, ...] = ("shape", "intensity", "texture")
    save: tuple[str, ...] = ("attribution", "preprocessed")
    seed: int = 0
    device: str | None = None
    pin_memory: bool = True
    torch_threads: int | None = None
    deterministic: bool = True

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("out_dir")
        return d


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, np.ascontiguousarray(array))
    os.replace(tmp, path)


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except Exception:  # noqa: BLE001 - not available on Windows
        return float("nan")


class _Case:
    """Running state of one case inside a chunk."""

    def __init__(self, spec: CaseSpec) -> None:
        self.spec = spec
        self.row: dict[str, Any] = {"case_id": spec.case_id, "status": "ok", "failed_step": None,
                                    "error_type": None, "error": None, "traceback": None}
        self.volume: Any = None
        self.mask: Any = None
        self.model_input: Any = None
        self.attribution: Any = None
        self.outputs: dict[str, str] = {}
        self.t0 = time.perf_counter()

    @property
    def failed(self) -> bool:
        return self.row["status"] != "ok"

    def run(self, step: str, fn: Any) -> None:
        if self.failed:
            return
        t = time.perf_counter()
        try:
            fn(self)
        except Exception as err:  # noqa: BLE001 - every failure is reported per case, the run continues
            self.fail(step, err)
        self.row[f"time_{step}_s"] = round(time.perf_counter() - t, 4)

    def fail(self, step: str, err: BaseException) -> None:
        self.row.update(status="failed", failed_step=step, error_type=type(err).__name__,
                        error=str(err).strip()[:1000] or repr(err),  # whole message: medwb errors end in "Fix: ..."
                        traceback="".join(traceback.format_exception(type(err), err, err.__traceback__))[-4000:])


def run_chunk(cases: list[CaseSpec], source: ModelSource, config: PipelineConfig) -> list[dict[str, Any]]:
    """Process a chunk of cases; return one small result row per case (never raises for a case).

    With ``config.deterministic`` (default) torch's deterministic algorithms are on for the chunk
    (medwb.models.deterministic), so a case gives the same bytes wherever and whenever it runs.
    """
    import torch

    from medwb.models.train import deterministic

    threads = torch.get_num_threads()
    if config.torch_threads:
        torch.set_num_threads(int(config.torch_threads))
    try:
        with deterministic(config.deterministic):
            return _run_chunk(cases, source, config)
    finally:
        torch.set_num_threads(threads)


def _run_chunk(cases: list[CaseSpec], source: ModelSource, config: PipelineConfig) -> list[dict[str, Any]]:
    import torch

    from medwb.io.load import load_volume

    states = [_Case(spec) for spec in cases]
    try:
        model, pp, ident = source.build(config.device)
    except Exception as err:  # noqa: BLE001 - a model that cannot be built fails every case of the chunk
        for st in states:
            st.fail("model", err)
        return [_finish(st, None, None, config, config.device) for st in states]
    dev = next(iter(model.parameters())).device if any(True for _ in model.parameters()) else torch.device("cpu")
    out = Path(config.out_dir)
    steps = set(config.steps)

    def load(st: _Case) -> None:
        if not st.spec.image:
            raise FileNotFoundError(f"case {st.spec.case_id} has no image path.\nFix: fill the manifest's "
                                    "'image' column.")
        st.volume = load_volume(st.spec.image)
        st.volume.meta.setdefault("case_id", st.spec.case_id)
        if "features" in steps and st.spec.mask:
            st.mask = load_volume(st.spec.mask)

    def preprocess(st: _Case) -> None:
        st.model_input = pp(st.volume)
        if "preprocessed" in config.save:
            rel = f"preprocessed/{safe_name(st.spec.case_id)}.npy"
            _save_npy(out / rel, st.model_input.array.astype(np.float32, copy=False))
            st.outputs["preprocessed"] = rel
            st.row["preprocessed_path"] = rel

    for st in states:
        st.run("load", load)
    if steps & {"preprocess", "predict"}:
        for st in states:
            st.run("preprocess", preprocess)
    if "predict" in steps:
        _predict([st for st in states if not st.failed], model, dev, config)

    from medwb.attribution import explain

    def do_explain(st: _Case) -> None:
        torch.manual_seed(config.seed)
        att = explain(model, st.volume, method=config.explain_method, target=config.target,
                      preprocess=pp, device=dev, seed=config.seed, **config.explain_kwargs)
        st.attribution = att.array
        st.row.update(attribution_method=att.method, attribution_target=str(att.target),
                      attribution_score=att.score, attribution_delta=att.delta)
        if "attribution" in config.save:
            rel = f"attributions/{safe_name(st.spec.case_id)}.npy"
            _save_npy(out / rel, att.array)
            st.outputs["attribution"] = rel
            st.row["attribution_path"] = rel

    rows = []
    for st in states:
        if "explain" in steps:
            st.run("explain", do_explain)
        if "features" in steps:
            st.run("features", lambda st: _features(st, config))
        rows.append(_finish(st, pp, ident, config, str(dev)))
        st.volume = st.mask = st.model_input = st.attribution = None  # this case's arrays are on disk now
    return rows


def _predict(states: list[_Case], model: Any, dev: Any, config: PipelineConfig) -> None:
    """One forward pass for the chunk (pinned memory, non-blocking copy on CUDA); per case on failure."""
    import torch

    if not states:
        return

    def forward(group: list[_Case]) -> np.ndarray:
        x = torch.from_numpy(np.stack([np.ascontiguousarray(s.model_input.array, dtype=np.float32)
                                       for s in group]))[:, None]
        if dev.type == "cuda":
            if config.pin_memory:
                x = x.pin_memory()
            x = x.to(dev, non_blocking=True)
        with torch.no_grad():
            logits = model(x).float()
        return logits.cpu().numpy()

    t = time.perf_counter()
    try:
        logits = forward(states)
        per_case = [(s, logits[i]) for i, s in enumerate(states)]
    except Exception:  # noqa: BLE001 - find out which case breaks the batch
        per_case = []
        for s in states:
            try:
                per_case.append((s, forward([s])[0]))
            except Exception as err:  # noqa: BLE001
                s.fail("predict", err)
    dt = (time.perf_counter() - t) / max(len(states), 1)
    for s, z in per_case:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if z.size == 1:
            probs = np.array([1.0 - 1.0 / (1.0 + np.exp(-z[0])), 1.0 / (1.0 + np.exp(-z[0]))])
        else:
            e = np.exp(z - z.max())
            probs = e / e.sum()
        s.row["prob"] = float(probs[1]) if probs.size == 2 else float(probs.max())
        s.row["predicted"] = int(np.argmax(probs))
        if probs.size > 2:
            s.row.update({f"prob_{k}": float(p) for k, p in enumerate(probs)})
        s.row["time_predict_s"] = round(dt, 4)


def _features(st: _Case, config: PipelineConfig) -> None:
    from medwb.features import extract

    attributions = {st.spec.case_id: st.attribution} if st.attribution is not None else None
    table = extract({st.spec.case_id: (st.volume, st.mask)}, families=config.families,
                    attributions=attributions, on_empty="nan", progress=False)
    row = table.iloc[0].drop(labels="case_id").to_dict()
    st.row.update({k: (float(v) if v is not None else np.nan) for k, v in row.items()})
    problems = table.attrs.get("problems")
    if problems is not None and len(problems):
        st.row["features_note"] = "; ".join(problems["problem"].astype(str))


def _finish(st: _Case, pp: Any, ident: dict[str, Any] | None, config: PipelineConfig,
            device: str | None = None) -> dict[str, Any]:
    params = config.params()
    if pp is not None:
        params["preprocess"] = pp.to_dict()
    model_input = st.model_input
    extra = {"status": st.row["status"], "outputs": st.outputs,
             "timings_s": {k[5:-2]: v for k, v in st.row.items() if k.startswith("time_")}}
    if model_input is not None:
        extra["model_input_affine"] = np.asarray(model_input.affine).tolist()
        extra["model_input_shape"] = list(model_input.shape)
    if st.volume is not None:
        extra["image_affine"] = np.asarray(st.volume.affine).tolist()
    if st.failed:
        extra["failure"] = {k: st.row[k] for k in ("failed_step", "error_type", "error")}
    prov = make_provenance(volume=st.volume, case_id=st.spec.case_id, source=st.spec.image,
                           model_info=ident, seed=config.seed, params=params, device=device, extra=extra)
    rel = f"cases/{safe_name(st.spec.case_id)}.json"
    st.row["provenance_path"] = rel
    st.row.update(to_columns(prov))
    if st.spec.label is not None:
        st.row["label"] = st.spec.label
    st.row["elapsed_s"] = round(time.perf_counter() - st.t0, 4)
    st.row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    st.row["worker_peak_rss_mb"] = round(_peak_rss_mb(), 1)
    prov["extra"]["result"] = {k: v for k, v in st.row.items() if k != "traceback"}  # for resume=True
    try:
        write_sidecar(Path(config.out_dir) / rel, prov)
    except OSError as err:
        st.row["provenance_path"] = None
        st.row["provenance_error"] = str(err)
    return st.row
