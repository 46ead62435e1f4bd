"""Train a SurvivalNet on the training conventions of medwb.models: seeded, with progress, on any device.

The Cox head is trained with torchsurv's negative partial log-likelihood (Efron ties) over mini-batches
(each batch is its own risk set, as in DeepSurv-style training); the Weibull head with torchsurv's
Weibull log-likelihood. Same seed, same data, same weights on CPU (medwb.models.deterministic).
After training, Breslow's baseline (torchsurv.loss.cox.baseline_survival_function) is computed on the
training cases, and the result is a medwb.survival.deep.PrognosisModel.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from medwb.models.data import Augment
from medwb.models.device import pick_device
from medwb.models.train import deterministic, seed_everything
from medwb.survival._data import SurvivalDataError
from medwb.survival.deep.data import SurvivalData, survival_data
from medwb.survival.deep.model import PrognosisModel
from medwb.survival.deep.net import SurvivalNet

__all__ = ["fit_prognosis"]


def _loss(head: str, out: torch.Tensor, event: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    if head == "cox":
        import warnings

        from torchsurv.loss.cox import neg_partial_log_likelihood

        with warnings.catch_warnings():  # "Ties in `time` detected; using efron": Efron is what we ask for
            warnings.filterwarnings("ignore", message="Ties in `time`")
            return neg_partial_log_likelihood(out[:, 0], event, t, ties_method="efron", reduction="mean")
    from torchsurv.loss.weibull import neg_log_likelihood_weibull

    return neg_log_likelihood_weibull(out, event, t, reduction="mean")


def fit_prognosis(
    data: Any,
    mode: str = "fusion",
    head: str = "cox",
    *,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    weight_decay: float = 1e-4,
    width: int = 8,
    dropout: float = 0.2,
    clinical_hidden: int = 0,
    clinical_lr_factor: float = 10.0,
    augment: Augment | None = Augment(rotate_degrees=0.0),  # noqa: B008 - frozen dataclass
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    max_seconds: float | None = None,
    callback: Callable[[dict[str, Any], pd.DataFrame], Any] | None = None,
    **data_kwargs: Any,
) -> PrognosisModel:
    """Fit a survival network on ``data`` (a SurvivalData, or a Cohort given to survival_data).

    Args:
        mode: "fusion" (image + clinical), "image" or "clinical". head: "cox" or "weibull".
        epochs, lr, batch_size, weight_decay: AdamW with cosine decay over ``epochs``. Defaults: 20 epochs
            of batches of 16 at lr 3e-3 with images; 200 full-batch epochs at lr 2e-2 without (one risk set:
            the Cox fit itself, which matches lifelines' to about 2 decimals of the hazard ratios).
        clinical_lr_factor: learning-rate multiplier of the clinical branch in fusion mode (a few
            weights beside a CNN: at the CNN's rate they would barely move in 20 epochs).
        augment: random flips / intensity changes of the training images (None: off).
        seed: initial weights (seed_everything before building), shuffling and augmentation.
        max_seconds: stop after the epoch that passes this wall time. callback: called after every
            epoch with (row, history so far); return False to stop.
        data_kwargs: passed to survival_data when ``data`` is a Cohort (clinical=..., preprocess=...).

    Example:
        >>> t = pd.DataFrame({"case_id": list("abcdefgh"), "time": [5., 8, 3, 9, 4, 7, 2, 6],
        ...                   "event": [1, 0, 1, 1, 1, 0, 1, 1], "age": [50, 60, 70, 55, 65, 45, 80, 62],
        ...                   "sex": list("MFMFMFMF"), "ecog": [0, 1, 2, 0, 1, 0, 2, 1]})
        >>> m = fit_prognosis(survival_data(t, images=False), mode="clinical", epochs=5, progress=False)
        >>> m.columns, m.predict_survival(survival_data(t, images=False), [4.0]).shape
        (['age', 'sex_M', 'ecog'], (8, 1))
    """
    from tqdm.auto import tqdm

    if not isinstance(data, SurvivalData):
        data = survival_data(data, images=mode != "clinical", progress=progress, **data_kwargs)
    if mode != "clinical" and data.images is None:
        raise SurvivalDataError(f"mode={mode!r} needs images, but the data has none.\n"
                                "Fix: build it with survival_data(cohort, images=True), or use mode='clinical'.")
    if len(data) < 4 or int(data.event.sum()) < 2:
        raise SurvivalDataError(f"{len(data)} cases with {int(data.event.sum())} events are too few to train on.\n"
                                "Fix: train on more cases (at least a few events per covariate).")
    dev = pick_device(device)
    if epochs is None:
        epochs = 200 if mode == "clinical" else 20
    if lr is None:
        lr = 2e-2 if mode == "clinical" else 3e-3
    if batch_size is None:
        batch_size = len(data) if mode == "clinical" else 16
    medians = {c: float(v) for c, v in data.clinical.median().items()}
    if any(not np.isfinite(v) for v in medians.values()):
        empty = [c for c, v in medians.items() if not np.isfinite(v)]
        raise SurvivalDataError(f"clinical column(s) {empty} have no value in the training cases. Fix: leave them out.")
    filled = data.clinical.fillna(medians).to_numpy(float)
    mean, sd = filled.mean(axis=0), filled.std(axis=0)
    if np.any(sd == 0):
        c = [col for col, s in zip(data.clinical_columns, sd, strict=True) if s == 0]
        raise SurvivalDataError(f"clinical column(s) {c} are constant in the training cases: no effect can be learned.\n"
                                "Fix: leave them out (clinical=[...]).")
    z = torch.as_tensor((filled - mean) / sd, dtype=torch.float32)
    t_all = torch.as_tensor(data.time, dtype=torch.float32)
    e_all = torch.as_tensor(data.event.astype(bool))
    seed_everything(seed)
    net = SurvivalNet(len(data.clinical_columns), mode=mode, head=head, width=width, dropout=dropout,
                      clinical_hidden=clinical_hidden, log_time_scale=math.log(float(np.median(data.time))))
    net.to(dev)
    # the clinical branch is a handful of weights next to a CNN: it learns at clinical_lr_factor × lr
    fast = list(net.clinical.parameters()) if (net.clinical is not None and net.image is not None) else []
    slow = [p for p in net.parameters() if all(p is not q for q in fast)]
    groups = [{"params": slow}] + ([{"params": fast, "lr": lr * clinical_lr_factor}] if fast else [])
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    use_images = net.image is not None
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    n = len(data)
    with deterministic(True), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        bar = tqdm(range(1, epochs + 1), desc=f"train ({mode}, {head})", disable=not progress)
        for epoch in bar:
            t0 = time.perf_counter()
            net.train()
            order = torch.randperm(n, generator=gen)
            total, count = 0.0, 0
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                if len(idx) < 2 or not bool(e_all[idx].any()):
                    continue  # a risk set needs two cases and an event
                x = None
                if use_images:
                    x = data.images[idx]
                    if augment is not None:
                        x = torch.stack([augment(xi) for xi in x])
                    x = x.to(dev)
                opt.zero_grad(set_to_none=True)
                out = net(x, z[idx].to(dev)).float()
                loss = _loss(head, out, e_all[idx].to(dev), t_all[idx].to(dev))
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            sched.step()
            row = {"epoch": epoch, "train_loss": total / max(count, 1), "lr": opt.param_groups[0]["lr"],
                   "seconds": time.perf_counter() - t0}
            rows.append(row)
            history = pd.DataFrame(rows)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}")
            if callback is not None and callback(row, history) is False:
                break
            if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
                break
    net.eval()
    model = PrognosisModel(net, data.preprocess if use_images else None, data.clinical_columns, mean, sd, medians,
                           np.zeros(0), np.zeros(0), float(np.max(data.time)), pd.DataFrame(rows), seed,
                           list(data.notes),
                           {c: (float(data.clinical[c].min()), float(data.clinical[c].max())) for c in data.clinical_columns})
    eta = torch.as_tensor(model._eta(data.images if use_images else None, z))
    if head == "cox":
        from torchsurv.loss.cox import baseline_survival_function

        base = baseline_survival_function(eta.double(), e_all, t_all.double())
        model.baseline_time = base["time"].numpy().astype(float)
        model.baseline_survival = base["baseline_survival"].numpy().astype(float)
    model.history.attrs.update(device=str(dev), seconds=time.perf_counter() - t_start, n_train=n)
    return model
