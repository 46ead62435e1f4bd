"""A trained survival network with everything needed to use it: standardisation, medians, baseline.

``PrognosisModel`` answers a patient's log hazard (risk), survival curve (with an approximate band) and
survival at a horizon, from a Volume and a few clinical values, or for a whole SurvivalData at once.
The Cox baseline is Breslow's, computed by torchsurv on the training cases; the Weibull head has its own.
Training lives in medwb.survival.deep.fit; explanations in medwb.survival.deep.explain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from medwb.models.inference import inference_mode
from medwb.survival._data import SurvivalDataError
from medwb.survival.deep.data import SurvivalData, check_horizon
from medwb.survival.deep.net import SurvivalNet
from medwb.volume import Volume

__all__ = ["PrognosisModel", "load_prognosis", "CachedPreprocess"]


class CachedPreprocess:
    """A Preprocess that remembers its last Volume: a patient's curve, risk map and covariate bars then
    preprocess the CT once, not three times (the Volume is recognised by identity, not by content)."""

    def __init__(self, preprocess: Any) -> None:
        self.preprocess = preprocess
        self._key: Volume | None = None
        self._out: Volume | None = None

    def __call__(self, volume: Volume) -> Volume:
        if self._key is not volume:
            self._out, self._key = self.preprocess(volume), volume
        return self._out  # type: ignore[return-value]

    def tensor(self, volume: Volume) -> torch.Tensor:
        return torch.from_numpy(np.require(self(volume).array, np.float32, ["C", "W"]))[None]

    def to_dict(self) -> dict[str, Any]:
        return self.preprocess.to_dict()


@dataclass(eq=False)
class PrognosisModel:
    """A fitted SurvivalNet plus its preprocessing, clinical coding and baseline hazard.

    Attributes:
        net: the SurvivalNet (eval mode). preprocess: the image Preprocess (None for clinical-only).
        columns: coded clinical columns; mean, sd: their standardisation; medians: imputation values
            and the baseline of clinical attributions (the training cases' medians, raw units).
        baseline_time, baseline_survival: Breslow's S0 on the training times (Cox head).
        last_time: the last training follow-up (horizons beyond it are refused).
    """

    net: SurvivalNet
    preprocess: Any
    columns: list[str]
    mean: np.ndarray
    sd: np.ndarray
    medians: dict[str, float]
    baseline_time: np.ndarray
    baseline_survival: np.ndarray
    last_time: float
    history: pd.DataFrame | None = None
    seed: int | None = None
    notes: list[str] = field(default_factory=list)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # training (min, max) per column
    _cached: CachedPreprocess | None = field(default=None, init=False, repr=False)

    @property
    def model_input(self) -> CachedPreprocess:
        """The image Preprocess with a one-patient cache (what Risk / SurvivalAt give medwb.explain)."""
        if self._cached is None or self._cached.preprocess is not self.preprocess:
            self._cached = CachedPreprocess(self.preprocess)
        return self._cached

    @property
    def mode(self) -> str:
        return self.net.mode

    @property
    def has_image(self) -> bool:
        return self.net.image is not None

    # -- inputs ---------------------------------------------------------------------------------
    def code(self, clinical: Mapping[str, Any] | pd.Series | pd.DataFrame | None) -> pd.DataFrame:
        """Raw clinical values (e.g. {"age": 70, "sex": "M", "ecog": 1}, or sex_M=1) as the coded columns.

        Missing values become the training medians; an unknown or absent column raises.
        """
        if clinical is None:
            return pd.DataFrame([self.medians], columns=self.columns)
        df = clinical.to_frame().T if isinstance(clinical, pd.Series) else (
            clinical if isinstance(clinical, pd.DataFrame) else pd.DataFrame([dict(clinical)]))
        out = pd.DataFrame(index=df.index)
        for c in self.columns:
            if c in df.columns:
                out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
                continue
            base, _, level = c.rpartition("_")
            if base and base in df.columns:
                out[c] = np.where(df[base].isna(), np.nan, (df[base].astype(str) == level).astype(float))
                continue
            raise SurvivalDataError(
                f"the clinical values lack {c!r} (given: {list(df.columns)}); the model was fitted on {self.columns}.\n"
                f"Fix: give {c!r}" + (f" or {base!r}" if base else "") + ", e.g. model.code({'age': 70, 'sex': 'M'}).")
        return out.fillna(self.medians)

    def clinical_tensor(self, clinical: Any) -> torch.Tensor:
        """Standardised (N, p) float32 tensor of coded (or raw) clinical values."""
        coded = clinical if isinstance(clinical, pd.DataFrame) and list(clinical.columns) == self.columns else \
            self.code(clinical)
        z = (coded.fillna(self.medians).to_numpy(float) - self.mean) / self.sd
        return torch.as_tensor(z, dtype=torch.float32)

    def image_tensor(self, volume: Volume | None) -> torch.Tensor | None:
        """(1, 1, D, H, W) tensor of a Volume through the model's Preprocess (None for clinical-only)."""
        if not self.has_image:
            return None
        if volume is None:
            raise ValueError("this model sees images: pass the patient's Volume.")
        return self.model_input.tensor(volume)[None]

    # -- prediction -----------------------------------------------------------------------------
    def _eta(self, images: torch.Tensor | None, clinical: torch.Tensor, batch_size: int = 32) -> np.ndarray:
        dev = next(self.net.parameters()).device
        out = []
        with inference_mode(self.net), torch.no_grad():
            for s in range(0, len(clinical), batch_size):
                x = images[s:s + batch_size].to(dev) if images is not None else None
                out.append(self.net.log_hazard(x, clinical[s:s + batch_size].to(dev)).cpu())
        return torch.cat(out)[:, 0].numpy().astype(np.float64)

    def predict_risk(self, data: SurvivalData) -> np.ndarray:
        """Log relative hazard (higher = worse) of every case of ``data``."""
        return self._eta(data.images if self.has_image else None, self.clinical_tensor(data.clinical))

    def risk(self, volume: Volume | None, clinical: Any) -> float:
        """One patient's log relative hazard."""
        return float(self._eta(self.image_tensor(volume), self.clinical_tensor(clinical))[0])

    def survival_from_eta(self, eta: np.ndarray | float, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """S(t | eta) for log hazards ``eta`` at ``times``: shape (len(eta), len(times))."""
        eta = np.atleast_1d(np.asarray(eta, dtype=float))
        t = np.asarray(times, dtype=float)
        return np.exp(-np.outer(np.exp(eta), self.cumulative_baseline(t)))

    def cumulative_baseline(self, times: np.ndarray) -> np.ndarray:
        """H0(t): Breslow's step function (Cox head) or the fitted Weibull (t / scale) ** shape."""
        t = np.asarray(times, dtype=float)
        if self.net.head == "weibull":
            rho = float(self.net.log_shape.detach().exp())
            return (t / float(self.net.log_scale.detach().exp())) ** rho
        i = np.searchsorted(self.baseline_time, t, side="right") - 1
        s0 = np.where(i >= 0, self.baseline_survival[np.clip(i, 0, None)], 1.0)
        return -np.log(np.clip(s0, 1e-300, None))

    def predict_survival(self, data: SurvivalData, times: Sequence[float]) -> np.ndarray:
        """S(t | case) for every case of ``data`` at ``times`` (each <= the last training follow-up)."""
        t = check_horizon(times, np.array([self.last_time]))
        return self.survival_from_eta(self.predict_risk(data), t)

    def eta_samples(self, volume: Volume | None, clinical: Any, n_samples: int = 30, seed: int = 0
                    ) -> tuple[float, np.ndarray]:
        """(log hazard, ``n_samples`` Monte-Carlo-dropout draws of it) for one patient."""
        x, z = self.image_tensor(volume), self.clinical_tensor(clinical)
        eta = float(self._eta(x, z)[0])
        image = self.net.image
        if image is None or image.dropout.p == 0:
            return eta, np.full(n_samples, eta)
        with inference_mode(self.net), torch.no_grad(), torch.random.fork_rng():
            # the dropout sits after the pooled features: compute them once, draw the masks n times
            pooled = image.features(x).mean(dim=(2, 3, 4)).expand(n_samples, -1)
            g = self.net.clinical(z) if self.net.clinical is not None else torch.zeros(1, 1)
            torch.manual_seed(seed)
            draws = image.classifier(torch.nn.functional.dropout(pooled, image.dropout.p, training=True)) + g
        return eta, draws[:, 0].double().numpy()

    def band(self, eta: float, samples: np.ndarray, times: np.ndarray, level: float = 0.9, seed: int = 0
             ) -> pd.DataFrame:
        """S(t) at ``eta`` with a ``level`` band from log-hazard draws and a bootstrap of the baseline."""
        t = np.asarray(times, dtype=float)
        h0 = self.cumulative_baseline(t)
        inc = np.diff(np.concatenate([[0.0], h0]))
        rng = np.random.default_rng(seed)
        # Bayesian bootstrap of Breslow's increments (Exp(1) weights per event time); Weibull: none
        w = rng.exponential(1.0, size=(len(samples), len(inc))) if self.net.head == "cox" else np.ones((len(samples), len(inc)))
        d = np.exp(-np.exp(np.asarray(samples))[:, None] * np.cumsum(inc[None, :] * w, axis=1))
        a = (1 - level) / 2
        return pd.DataFrame({"time": t, "survival": np.exp(-np.exp(eta) * h0),
                             "lower": np.quantile(d, a, axis=0), "upper": np.quantile(d, 1 - a, axis=0)})

    def survival_curve(self, volume: Volume | None, clinical: Any, times: Sequence[float] | None = None,
                       n_samples: int = 30, level: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """A patient's S(t) with an approximate ``level`` band: columns time, survival, lower, upper.

        The band combines Monte-Carlo dropout in the image branch (when it has dropout) with a Bayesian
        bootstrap of Breslow's baseline hazard increments (Cox head); it shows how unsure the network is,
        it is not a calibrated confidence interval. Default times: 60 points up to the last follow-up.
        """
        if times is None:
            t = np.linspace(0.0, self.last_time, 61)[1:]
        else:
            t = check_horizon(times, np.array([self.last_time]))
        eta, samples = self.eta_samples(volume, clinical, n_samples, seed)
        return self.band(eta, samples, t, level, seed)

    # -- storage --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """A safe medwb checkpoint (weights + plain values; loads with torch.load(weights_only=True))."""
        from medwb.models.checkpoint import save_checkpoint

        extra = {"columns": self.columns, "mean": self.mean.tolist(), "sd": self.sd.tolist(),
                 "medians": self.medians, "baseline_time": self.baseline_time.tolist(),
                 "baseline_survival": self.baseline_survival.tolist(), "last_time": self.last_time,
                 "notes": self.notes, "ranges": {c: list(v) for c, v in self.ranges.items()},
                 "kind": "medwb.survival.deep.PrognosisModel"}
        return save_checkpoint(path, self.net, preprocess=self.preprocess, seed=self.seed, history=self.history,
                               extra=extra)

    def __repr__(self) -> str:
        return (f"PrognosisModel(mode={self.mode!r}, head={self.net.head!r}, clinical={self.columns}, "
                f"last_time={self.last_time:g})")


def load_prognosis(path: str | Path, map_location: str = "cpu") -> PrognosisModel:
    """Load a PrognosisModel written by ``PrognosisModel.save`` (no pickled code runs)."""
    from medwb.models.checkpoint import CheckpointError, load_checkpoint

    obj = torch.load(Path(path), map_location=map_location, weights_only=True)
    extra = obj.get("extra", {}) if isinstance(obj, dict) else {}
    if extra.get("kind") != "medwb.survival.deep.PrognosisModel":
        raise CheckpointError(f"{path} is not a PrognosisModel checkpoint.\nFix: save it with PrognosisModel.save(path).")
    net, info = load_checkpoint(path, model=SurvivalNet(**obj["model_config"]), map_location=map_location)
    return PrognosisModel(net, info["preprocess"], list(extra["columns"]), np.asarray(extra["mean"]),
                          np.asarray(extra["sd"]), dict(extra["medians"]), np.asarray(extra["baseline_time"]),
                          np.asarray(extra["baseline_survival"]), float(extra["last_time"]), info["history"],
                          info["provenance"].get("seed"), list(extra.get("notes", [])),
                          {c: (float(a), float(b)) for c, (a, b) in extra.get("ranges", {}).items()})
