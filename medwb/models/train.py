"""Train, evaluate and apply a classifier on 3D volumes, reproducibly, with progress and history.

``train`` returns an epoch-by-epoch history DataFrame (for a live plot: pass ``callback``);
``evaluate`` gives loss, ROC AUC and accuracy; ``predict`` gives a probability per case. Same seed,
same data and the same initial weights give identical weights on CPU (deterministic algorithms,
seeded shuffling and augmentation, single-process loading by default).
"""

from __future__ import annotations

import contextlib
import copy
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medwb.models.data import Augment, CohortDataset, Preprocess, VolumeDataset
from medwb.models.device import amp_available, pick_device
from medwb.models.inference import inference_mode
from medwb.volume import Volume

__all__ = ["train", "evaluate", "predict", "roc_auc", "seed_everything", "deterministic"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices). Call before building a model for identical init."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Use torch's deterministic algorithms inside the block, restoring the previous settings after."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_cudnn = torch.backends.cudnn.deterministic
    try:
        if enabled:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half); NaN when one class is absent.

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    from scipy.stats import rankdata

    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _seed_worker(worker_id: int) -> None:  # pragma: no cover - runs in worker processes
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _loader(data: Dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int) -> DataLoader:
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        worker_init_fn=_seed_worker,
        generator=g,
        drop_last=False,
    )


def _as_datasets(
    data: Any, val_data: Any, preprocess: Preprocess | None, augment: Augment | None, val_fraction: float,
    seed: int,
) -> tuple[VolumeDataset, VolumeDataset | None, dict[str, list[str]]]:
    """Accept a Cohort (split here) or Datasets; return (train, val, split)."""
    if hasattr(data, "volume") and hasattr(data, "case_ids"):  # a Cohort
        if val_data is None:
            tr, va = data.split(test_size=val_fraction, seed=seed)
        else:
            tr, va = data, val_data
        train_ds = CohortDataset(tr, preprocess=preprocess, augment=augment)
        val_ds = CohortDataset(va, preprocess=preprocess) if hasattr(va, "volume") else va
    else:
        train_ds, val_ds = data, val_data
        if isinstance(train_ds, VolumeDataset) and augment is not None and train_ds.augment is None:
            train_ds = train_ds.with_augment(augment)
    split = {
        "train": list(getattr(train_ds, "case_ids", [])),
        "val": list(getattr(val_ds, "case_ids", [])) if val_ds is not None else [],
    }
    return train_ds, val_ds, split


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    if amp:
        return torch.autocast(device_type=device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def train(
    model: nn.Module,
    data: Any,
    val_data: Any = None,
    *,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 8,
    weight_decay: float = 1e-4,
    seed: int = 0,
    early_stopping: int | None = 8,
    monitor: str = "val_auc",
    balance: str | None = "loss",
    preprocess: Preprocess | None = None,
    augment: Augment | None = Augment(),  # noqa: B008 - frozen dataclass, safe as a default
    val_fraction: float = 0.2,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    num_workers: int = 0,
    callback: Callable[[dict[str, Any], pd.DataFrame], Any] | None = None,
    progress: bool = True,
    max_seconds: float | None = None,
) -> pd.DataFrame:
    """Train a classifier of (N, 1, D, H, W) volumes; return the history, one row per epoch.

    Args:
        model: any nn.Module returning (N, n_classes) logits (class 1 is "positive" for AUC).
        data: a Cohort (a stratified validation split of ``val_fraction`` is made with ``seed``) or a
            Dataset of (tensor, label) pairs (e.g. CohortDataset / VolumeDataset).
        val_data: validation Cohort or Dataset; monitors early stopping. None with a Dataset: no
            validation (early stopping then watches the training loss).
        epochs, lr, batch_size, weight_decay: AdamW with cosine decay of ``lr`` over ``epochs``.
        seed: shuffling, augmentation and dropout randomness. Model initialisation is the caller's:
            call seed_everything(seed) before building the model for identical initial weights.
        early_stopping: stop after this many epochs without improvement of ``monitor`` ("val_auc",
            higher is better, ties broken by lower val_loss; or "val_loss") and restore the best
            weights. None trains all epochs and keeps the last weights.
        balance: "loss" weights the cross-entropy by inverse class frequency; None does not.
        preprocess, augment: used when ``data`` is a Cohort (defaults: Preprocess(), Augment()).
        device: see medwb.models.pick_device (cuda → mps → cpu by default).
        amp: mixed precision (float16 autocast + gradient scaling); default on for CUDA only.
        callback: called after every epoch with (row, history so far); return False to stop.
        max_seconds: stop after the epoch that passes this wall time.

    Returns:
        DataFrame with epoch, train_loss, val_loss, val_auc, val_accuracy, lr, seconds, best;
        ``.attrs`` holds "best_epoch", "split" (case ids used) and "device".

    Example:
        >>> from medwb.models import Preprocess, TeachingNet3D, VolumeDataset
        >>> from medwb.models.synthetic import synthetic_cases
        >>> vols, labels, _ = synthetic_cases(8, seed=0, shape=(24, 32, 32))   # label 1: a ring lesion
        >>> pp = Preprocess(window=(60.0, 200.0), spacing=6.0, shape=(12, 16, 16))
        >>> seed_everything(0)
        >>> net = TeachingNet3D(width=4)
        >>> history = train(net, VolumeDataset(vols, labels, preprocess=pp), epochs=2, batch_size=4,
        ...                 augment=None, progress=False)
        >>> len(history), history.columns.tolist()[:4], history.attrs["device"]
        (2, ['epoch', 'train_loss', 'val_loss', 'val_auc'], 'cpu')

        On a Cohort, ``train(net, cohort, epochs=20)`` holds out a stratified ``val_fraction`` itself.
    """
    from tqdm.auto import tqdm

    if monitor not in ("val_auc", "val_loss"):
        raise ValueError(f"monitor must be 'val_auc' or 'val_loss', got {monitor!r}")
    dev = pick_device(device)
    use_amp = amp_available(dev) if amp is None else bool(amp)
    if use_amp and dev.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got {dev}.\nFix: leave amp=None (automatic).")
    train_ds, val_ds, split = _as_datasets(data, val_data, preprocess, augment, val_fraction, seed)
    if len(train_ds) == 0:
        raise ValueError("no training cases.\nFix: pass a Cohort or Dataset with at least a few cases.")
    for ds in (train_ds, val_ds):
        if isinstance(ds, VolumeDataset):
            ds.preload(progress=progress)
    weight = None
    if balance == "loss" and isinstance(train_ds, VolumeDataset):
        weight = train_ds.class_weights().to(dev)
    elif balance not in (None, "loss"):
        raise ValueError(f"balance must be 'loss' or None, got {balance!r}")
    loss_fn = nn.CrossEntropyLoss(weight=weight)

    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    rows: list[dict[str, Any]] = []
    best_key: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch, stale = 0, 0
    t_start = time.perf_counter()
    with deterministic(True), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        loader = _loader(train_ds, batch_size, True, seed, num_workers)
        bar = tqdm(range(1, epochs + 1), desc="train", disable=not progress)
        for epoch in bar:
            t0 = time.perf_counter()
            model.train()
            total, count = 0.0, 0
            for x, y in loader:
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                with _autocast(dev, use_amp):
                    loss = loss_fn(model(x).float(), y)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                total += float(loss.detach()) * len(y)
                count += len(y)
            sched.step()
            row: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(count, 1)}
            if val_ds is not None:
                m = evaluate(model, val_ds, device=dev, batch_size=batch_size, amp=use_amp, progress=False)
                row.update(val_loss=m["loss"], val_auc=m["auc"], val_accuracy=m["accuracy"])
                auc = m["auc"] if np.isfinite(m["auc"]) else -1.0
                key = (auc, -m["loss"]) if monitor == "val_auc" else (-m["loss"], 0.0)
            else:
                row.update(val_loss=np.nan, val_auc=np.nan, val_accuracy=np.nan)
                key = (-row["train_loss"], 0.0)
            row["lr"] = opt.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - t0
            improved = best_key is None or key > best_key
            if improved:
                best_key, best_epoch, stale = key, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            row["best"] = improved
            rows.append(row)
            history = pd.DataFrame(rows)
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "val_loss", "val_auc")
                             if np.isfinite(row[k])})
            if callback is not None and callback(row, history) is False:
                break
            if early_stopping is not None and stale >= early_stopping:
                break
            if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
                break
    if early_stopping is not None and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows)
    history.attrs.update(best_epoch=best_epoch, split=split, device=str(dev))
    return history


def _batches(model: nn.Module, data: Any, dev: torch.device, batch_size: int, amp: bool,
             progress: bool, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels for every item of a Dataset, in order, in eval mode without gradients."""
    from tqdm.auto import tqdm

    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    logits, labels = [], []
    with inference_mode(model), torch.no_grad():
        for x, y in tqdm(loader, desc=desc, disable=not progress, leave=False):
            with _autocast(dev, amp):
                out = model(x.to(dev))
            logits.append(out.float().cpu())
            labels.append(torch.as_tensor(y))
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def _probabilities(logits: np.ndarray) -> np.ndarray:
    if logits.ndim == 1 or logits.shape[1] == 1:
        return 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True))[:, 1]


def evaluate(model: nn.Module, data: Any, *, device: str | torch.device | None = None, batch_size: int = 8,
             amp: bool | None = None, preprocess: Preprocess | None = None, progress: bool = True
             ) -> dict[str, float]:
    """Loss (mean cross-entropy, unweighted), ROC AUC and accuracy (threshold 0.5) on labelled data.

    Args:
        data: a Dataset of (tensor, label) or a Cohort (wrapped in CohortDataset with ``preprocess``).

    Example:
        >>> from medwb.models import Preprocess, TeachingNet3D, VolumeDataset
        >>> from medwb.models.synthetic import synthetic_cases
        >>> vols, labels, _ = synthetic_cases(6, seed=0, shape=(24, 32, 32))
        >>> pp = Preprocess(window=(60.0, 200.0), shape=(16, 16, 16))
        >>> data = VolumeDataset(vols, labels, preprocess=pp)
        >>> metrics = evaluate(TeachingNet3D(width=4), data, progress=False)
        >>> sorted(metrics), metrics["n"], metrics["n_positive"], 0.0 <= metrics["auc"] <= 1.0
        (['accuracy', 'auc', 'loss', 'n', 'n_positive'], 6, 3, True)
    """
    dev = pick_device(device)
    if hasattr(data, "volume") and hasattr(data, "case_ids"):
        data = CohortDataset(data, preprocess=preprocess)
    model.to(dev)
    logits, labels = _batches(model, data, dev, batch_size, amp_available(dev) if amp is None else amp,
                              progress, "evaluate")
    if (labels < 0).any():
        raise ValueError("evaluate needs labels for every case.\nFix: use predict() for unlabelled data.")
    t = torch.from_numpy(logits)
    loss = float(nn.functional.cross_entropy(t, torch.from_numpy(labels).long())) if t.ndim == 2 and \
        t.shape[1] > 1 else float(nn.functional.binary_cross_entropy_with_logits(t.reshape(-1),
                                                                                 torch.from_numpy(labels).float()))
    prob = _probabilities(logits)
    return {
        "loss": loss,
        "auc": roc_auc(labels, prob),
        "accuracy": float(((prob >= 0.5).astype(int) == labels).mean()),
        "n": int(len(labels)),
        "n_positive": int((labels == 1).sum()),
    }


def predict(model: nn.Module, data: Any, *, preprocess: Preprocess | None = None,
            device: str | torch.device | None = None, batch_size: int = 8, progress: bool = True
            ) -> pd.DataFrame:
    """Probability of class 1 per case: a DataFrame indexed by case_id (prob, predicted, label).

    Args:
        data: a Cohort, a Dataset, a Volume or a list of Volumes (Volumes go through ``preprocess``,
            default Preprocess()).

    Example:
        >>> from medwb.models import Preprocess, TeachingNet3D
        >>> cohort = medwb.demo.load_cohort()                     # the demo cohort (MEDWB_DEMO_DIR)
        >>> two = cohort.subset(cohort.case_ids[:2])
        >>> pp = Preprocess(shape=(32, 32, 32))
        >>> p = predict(TeachingNet3D(width=4), two, preprocess=pp, progress=False)
        >>> p.index.tolist() == two.case_ids, p.columns.tolist(), bool(p["prob"].between(0, 1).all())
        (True, ['prob', 'predicted', 'label'], True)
    """
    dev = pick_device(device)
    if isinstance(data, Volume):
        data = [data]
    if isinstance(data, (list, tuple)) and all(isinstance(v, Volume) for v in data):
        data = VolumeDataset(list(data), preprocess=preprocess)
    elif hasattr(data, "volume") and hasattr(data, "case_ids"):
        has_label = "label" in data.table.columns and data.table["label"].notna().all()
        data = CohortDataset(data, label="label" if has_label else None, preprocess=preprocess)
    model.to(dev)
    logits, labels = _batches(model, data, dev, batch_size, amp_available(dev), progress, "predict")
    prob = _probabilities(logits)
    ids = list(getattr(data, "case_ids", range(len(prob))))
    out = pd.DataFrame({"case_id": [str(i) for i in ids], "prob": prob, "predicted": (prob >= 0.5).astype(int)})
    out["label"] = np.where(labels >= 0, labels, -1)
    return out.set_index("case_id")
