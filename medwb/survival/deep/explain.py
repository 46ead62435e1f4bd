"""Explanations of a survival network's risk: voxels, clinical covariates, and how both change with time.

* ``Risk(clinical)`` and ``SurvivalAt(horizon, clinical)`` are targets for the one verb,
  ``medwb.explain(prognosis_model, volume, method=..., target=Risk({...}))``: every attribution method of
  medwb.attribution then explains the patient's log hazard, or S(horizon | x), on the volume's own grid,
  with the clinical values held at the patient's.
* ``explain_clinical`` attributes the same score to the clinical covariates against a stated baseline:
  the training cohort's medians (Integrated Gradients, Captum; exact for the linear clinical branch).
* ``explain_over_time`` is SurvSHAP(t)'s question for a model that sees images: how much each covariate
  and each image region (e.g. the lesions, the rest) moves S(t | x) away from the baseline patient's
  S(t), for every t. One Integrated-Gradients path from (baseline image, median covariates) to the
  patient serves all times: S(t | x) = exp(-H0(t) exp(eta)) depends on x only through eta, so the
  gradient of S(t) at each path point is the gradient of eta times dS(t)/d eta (the chain rule), and
  the contributions at every t add up to S(t | x) - S(t | baseline).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from medwb.models.inference import inference_mode
from medwb.survival.deep.data import check_horizon
from medwb.survival.deep.model import PrognosisModel
from medwb.volume import Volume

__all__ = ["Risk", "SurvivalAt", "explain_clinical", "explain_over_time", "ImageScore"]


def _prognosis(model: Any) -> PrognosisModel:
    if not isinstance(model, PrognosisModel):
        raise TypeError(f"a Risk / SurvivalAt target explains a PrognosisModel, got {type(model).__name__}.\n"
                        "Fix: pass the model returned by fit_prognosis (or load_prognosis), not its .net.")
    if not model.has_image:
        raise ValueError("this model is clinical-only: it has no image to explain.\n"
                         "Fix: use explain_clinical(model, None, clinical) for its covariates.")
    return model


class ImageScore(nn.Module):
    """The score of a PrognosisModel as a function of the image alone, the clinical values held fixed:
    (N, 1, D, H, W) -> (N, 1) log hazard, or S(horizon) when ``h0`` (H0(horizon)) is given."""

    def __init__(self, model: PrognosisModel, clinical: torch.Tensor, h0: float | None = None) -> None:
        super().__init__()
        self.net = model.net
        self.register_buffer("clinical", clinical, persistent=False)
        self.h0 = h0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eta = self.net.log_hazard(x, self.clinical.to(x.device).expand(len(x), -1))
        return eta if self.h0 is None else torch.exp(-self.h0 * torch.exp(eta))


@dataclass
class Risk:
    """Explain the log hazard (risk) of a patient with these clinical values (None: the cohort's medians).

    Example: ``medwb.explain(model, ct, "integrated_gradients", target=Risk({"age": 70, "sex": "M", "ecog": 1}))``
    """

    clinical: Any = None

    def bind(self, model: Any, preprocess: Any) -> tuple[nn.Module, int, Any]:
        """(image-only score module, output index, preprocess) for medwb.explain."""
        pm = _prognosis(model)
        return ImageScore(pm, pm.clinical_tensor(self.clinical)).eval(), 0, preprocess or pm.model_input

    def __repr__(self) -> str:
        return f"Risk(clinical={_short(self.clinical)})"


@dataclass
class SurvivalAt:
    """Explain S(horizon | x), the survival probability at ``horizon`` days, of a patient.

    Higher attributions raise survival; with ``Risk`` they raise the hazard (the signs are opposite).
    """

    horizon: float
    clinical: Any = None

    def bind(self, model: Any, preprocess: Any) -> tuple[nn.Module, int, Any]:
        pm = _prognosis(model)
        h = check_horizon(self.horizon, np.array([pm.last_time]))
        h0 = float(pm.cumulative_baseline(h)[0])
        return ImageScore(pm, pm.clinical_tensor(self.clinical), h0).eval(), 0, preprocess or pm.model_input

    def __repr__(self) -> str:
        return f"SurvivalAt({self.horizon:g} days, clinical={_short(self.clinical)})"


def _short(clinical: Any) -> str:
    """'medians', a table row's name (its case id), a small dict's items, or the type's name."""
    if clinical is None:
        return "medians"
    if isinstance(clinical, pd.Series) and clinical.name is not None:
        return str(clinical.name)
    if isinstance(clinical, (pd.Series, Mapping)) and len(clinical) <= 6:
        return "{" + ", ".join(f"{k}: {v}" for k, v in dict(clinical).items()) + "}"
    return type(clinical).__name__


def explain_clinical(model: PrognosisModel, volume: Volume | None, clinical: Any, horizon: float | None = None,
                     n_steps: int = 32) -> pd.DataFrame:
    """Attribution of the log hazard (or of S(horizon)) to each clinical covariate, against the medians.

    Integrated Gradients (Captum) on the clinical inputs from the training medians to the patient's
    values, the image held at the patient's (the late fusion is a sum, eta = f(image) + g(clinical), so
    the image enters as one constant). Columns: value, baseline (the median), attribution;
    ``attrs`` holds score, baseline_score and delta (completeness error). For the risk, ``volume`` may be
    None: the attributions are the same (score and baseline_score then leave out the image's constant).
    For a linear clinical branch and the risk target, attribution = log HR per unit × (value − median).

    Example:
        >>> from medwb.survival.deep import fit_prognosis, survival_data
        >>> t = pd.DataFrame({"case_id": list("abcdef"), "time": [5., 8, 3, 9, 4, 7], "event": [1, 0, 1, 1, 1, 1],
        ...                   "age": [50, 60, 70, 55, 65, 45], "sex": list("MFMFMF"), "ecog": [0, 1, 2, 0, 1, 0]})
        >>> m = fit_prognosis(survival_data(t, images=False), mode="clinical", epochs=20, progress=False)
        >>> tab = explain_clinical(m, None, {"age": 70, "sex": "M", "ecog": 2})
        >>> tab.columns.tolist(), bool(abs(tab["attribution"].sum() - (tab.attrs["score"] - tab.attrs["baseline_score"])) < 1e-4)
        (['value', 'baseline', 'attribution'], True)
    """
    from captum.attr import IntegratedGradients

    # the risk's clinical attributions do not depend on the image (additive fusion): volume may be None
    x = model.image_tensor(volume) if model.has_image and (volume is not None or horizon is not None) else None
    z = model.clinical_tensor(clinical)
    z0 = model.clinical_tensor(None)
    h0 = None
    if horizon is not None:
        h0 = float(model.cumulative_baseline(check_horizon(horizon, np.array([model.last_time])))[0])
    net = model.net
    if net.clinical is None:
        raise ValueError("this model is image-only: it has no clinical covariates to explain.\n"
                         "Fix: explain its image with medwb.explain(model, volume, target=Risk()).")
    with inference_mode(net), torch.no_grad():  # the fusion is additive: f(image) is a constant here
        f_img = net.image(x) if x is not None else torch.zeros(1, 1)

    def score(zz: torch.Tensor) -> torch.Tensor:
        eta = f_img + net.clinical(zz)
        return eta if h0 is None else torch.exp(-h0 * torch.exp(eta))

    with inference_mode(net):
        attr = IntegratedGradients(score).attribute(z, baselines=z0, target=0, n_steps=n_steps,
                                                    method="gausslegendre", internal_batch_size=n_steps)
        with torch.no_grad():
            s, s0 = float(score(z)[0, 0]), float(score(z0)[0, 0])
    coded = model.code(clinical).iloc[0]
    out = pd.DataFrame({"value": coded.to_numpy(float), "baseline": [model.medians[c] for c in model.columns],
                        "attribution": attr.detach().double().numpy()[0]}, index=pd.Index(model.columns, name="covariate"))
    out.attrs.update(score=s, baseline_score=s0, delta=float(out["attribution"].sum() - (s - s0)),
                     target="risk" if horizon is None else f"S({horizon:g})")
    return out


def explain_over_time(model: PrognosisModel, volume: Volume | None, clinical: Any, times: Sequence[float],
                      regions: Mapping[str, Volume | np.ndarray] | None = None, baseline: str = "zeros",
                      n_steps: int = 64) -> pd.DataFrame:
    """How each covariate and image region moves S(t | x) away from the baseline patient's, for each t.

    Args:
        volume, clinical: the patient. times: days (each <= the last training follow-up).
        regions: name -> mask (a Volume on the patient's grid, or an array on the model's grid); the
            image voxels outside every region form "rest of image". None: the whole image is one region.
        baseline: the baseline image on the model's scale: "zeros" or "blurred" (Gaussian, σ = 4 voxels).
            The baseline covariates are the training medians.
        n_steps: Gauss–Legendre steps of the path (one forward and backward pass each, for all times).

    Returns:
        One row per time: ``S(t)`` (the patient), ``S0(t)`` (the baseline patient), then one column per
        covariate and region; each row's contributions add up to S(t) − S0(t) (IG completeness, up to
        the quadrature error in ``attrs["max_delta"]``).
    """
    from captum.attr._utils.approximation_methods import approximation_parameters

    t = check_horizon(list(times), np.array([model.last_time]))
    z = model.clinical_tensor(clinical)
    z0 = model.clinical_tensor(None)
    names: list[str] = []
    masks: list[torch.Tensor] = []
    x = x0 = None
    if model.has_image:
        mvol = model.model_input(volume)
        x = torch.from_numpy(np.ascontiguousarray(mvol.array, np.float32))[None, None]
        if baseline == "zeros":
            x0 = torch.zeros_like(x)
        elif baseline == "blurred":
            from scipy.ndimage import gaussian_filter

            x0 = torch.from_numpy(gaussian_filter(mvol.array, 4.0).astype(np.float32))[None, None]
        else:
            raise ValueError(f"baseline {baseline!r} is not 'zeros' or 'blurred'.")
        taken = torch.zeros(x.shape[2:], dtype=torch.bool)
        for name, m in (regions or {}).items():
            if isinstance(m, Volume):
                from medwb.masks import mask_on_grid

                arr = mask_on_grid(m, mvol).array != 0
            else:
                arr = np.asarray(m) != 0
            if arr.shape != tuple(x.shape[2:]):
                raise ValueError(f"region {name!r} has shape {arr.shape}, the model grid is {tuple(x.shape[2:])}.\n"
                                 "Fix: give the mask as a Volume on the patient's grid.")
            mt = torch.from_numpy(arr) & ~taken
            taken |= mt
            names.append(name)
            masks.append(mt)
        names.append("rest of image" if regions else "image")
        masks.append(~taken)
    step_sizes, alphas = approximation_parameters("gausslegendre")
    w, a = np.asarray(step_sizes(n_steps)), np.asarray(alphas(n_steps))
    etas, parts = [], []  # per step: eta and the per-feature (x - x0) * d eta / d input sums
    net = model.net
    with inference_mode(net, freeze=True):
        for ak in a:
            zk = (z0 + float(ak) * (z - z0)).requires_grad_(True)
            xk = (x0 + float(ak) * (x - x0)).requires_grad_(True) if x is not None else None
            eta = net.log_hazard(xk, zk)[0, 0]
            grads = torch.autograd.grad(eta, [zk] + ([xk] if xk is not None else []))
            row = ((z - z0) * grads[0])[0].detach().double().numpy().tolist()
            if xk is not None:
                g = ((x - x0) * grads[1])[0, 0].detach().double()
                row += [float(g[m].sum()) for m in masks]
            etas.append(float(eta.detach()))
            parts.append(row)
    etas_a, parts_a = np.asarray(etas), np.asarray(parts)  # (steps,), (steps, features)
    h0 = model.cumulative_baseline(t)  # (times,)
    # dS(t)/d eta = -H0(t) exp(eta) S(t | eta), at every path point and time
    ds = -h0[None, :] * np.exp(etas_a)[:, None] * np.exp(-h0[None, :] * np.exp(etas_a)[:, None])
    contrib = np.einsum("k,kt,kf->tf", w, ds, parts_a)
    with torch.no_grad(), inference_mode(net):
        e1 = float(net.log_hazard(x, z)[0, 0])
        e0 = float(net.log_hazard(x0, z0)[0, 0])
    s1, s0 = np.exp(-h0 * np.exp(e1)), np.exp(-h0 * np.exp(e0))
    out = pd.DataFrame(contrib, columns=model.columns + names)
    out.insert(0, "S0(t)", s0)
    out.insert(0, "S(t)", s1)
    out.insert(0, "time", t)
    out.attrs["max_delta"] = float(np.max(np.abs(contrib.sum(axis=1) - (s1 - s0))))
    out.attrs["features"] = model.columns + names
    return out
