"""Check a survival network against the demo cohort's truth (medwb.demo.clinical.SURVIVAL_MODEL).

* ``implied_hazard_ratios``: the network's log hazard regressed (least squares) on the truth's coded
  covariates (age per 10 years, male, ECOG, ring enhancement, lesion volume per 10 mL) gives the hazard
  ratios the network implies; case-bootstrap CIs; beside the true ones via
  medwb.survival.compare_hazard_ratios.
* ``lesion_localisation``: share of the positive risk attribution inside the true lesion masks, beside
  the share a random map puts there (medwb.attribution.localisation on both).
* ``covariate_order``: the clinical covariates ranked by the network's mean |attribution| against the
  medians, beside their true mean |beta (x - median)|.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medwb.survival.deep.data import SurvivalData
from medwb.survival.deep.explain import Risk, explain_clinical
from medwb.survival.deep.model import PrognosisModel

__all__ = ["implied_hazard_ratios", "lesion_localisation", "covariate_order"]


def _truth_design(table: pd.DataFrame, case_ids: Sequence[str]) -> pd.DataFrame:
    from medwb.demo.clinical import design_matrix

    t = table.assign(case_id=table["case_id"].astype(str)).set_index("case_id").loc[list(case_ids)]
    return design_matrix(t)


def implied_hazard_ratios(model: PrognosisModel, data: SurvivalData, table: pd.DataFrame, n_boot: int = 200,
                          alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """The hazard ratios a network implies on the truth's covariates, beside the true ones.

    Args:
        data: the cases to predict (their images and clinical values). table: the demo manifest
            (``cohort.table``) with age, sex, ecog, label and lesion_volume_ml.

    Returns:
        medwb.survival.compare_hazard_ratios' table: hr, hr_lower, hr_upper (bootstrap), true_hr,
        ratio, covered; indexed by the truth's names (age_per_10y, male, ecog, ring_enhancing,
        lesion_volume_per_10ml).
    """
    from medwb.demo.clinical import HAZARD_RATIOS
    from medwb.survival.truth import compare_hazard_ratios

    x = _truth_design(table, data.case_ids)
    eta = model.predict_risk(data)
    design = np.column_stack([np.ones(len(x)), x.to_numpy(float)])
    coef = np.linalg.lstsq(design, eta, rcond=None)[0][1:]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        boots.append(np.linalg.lstsq(design[i], eta[i], rcond=None)[0][1:])
    lo, hi = (np.nanquantile(np.asarray(boots), q, axis=0) for q in (alpha / 2, 1 - alpha / 2)) if boots else \
        (np.full(len(coef), np.nan),) * 2
    hr = pd.DataFrame({"hr": np.exp(coef), "hr_lower": np.exp(lo), "hr_upper": np.exp(hi)}, index=x.columns)
    return compare_hazard_ratios(hr, HAZARD_RATIOS)


def lesion_localisation(model: PrognosisModel, cohort: Any, case_ids: Sequence[str] | None = None,
                        method: str = "integrated_gradients", seed: int = 0, n_steps: int = 64,
                        progress: bool = True, **explain_kwargs: Any) -> pd.DataFrame:
    """Share of each case's positive risk attribution inside its true lesion mask, and a random map's.

    Cases without a lesion are skipped; IG uses 64 steps (32 leave a completeness gap above 10 % on some
    cases of the demo). Returns one row per case: mass_in_mask, random_mass (a uniform
    random map's share: about the mask's share of the voxels), enrichment (mass_in_mask / random_mass).
    """
    from medwb.attribution import Attribution, explain, localisation
    from medwb.demo.truth import LABEL_LESION

    ids = list(case_ids) if case_ids is not None else list(cohort.case_ids)
    table = cohort.table.assign(case_id=cohort.table["case_id"].astype(str)).set_index("case_id")
    rng = np.random.default_rng(seed)
    rows = []
    from tqdm.auto import tqdm

    for cid in tqdm(ids, desc="localisation", disable=not progress):
        mask = cohort.mask(cid)
        if mask is None or not np.any(mask.array == LABEL_LESION):
            continue
        lesion = mask.with_array((mask.array == LABEL_LESION).astype(np.uint8))
        vol = cohort.volume(cid)
        a = explain(model, vol, method, target=Risk(table.loc[cid]), n_steps=n_steps, **explain_kwargs)
        loc = localisation(a, lesion)
        rand = Attribution(rng.random(a.shape).astype(np.float32), a.affine, "random", None)
        r = localisation(rand, lesion)["mass_in_mask"]
        rows.append({"case_id": cid, "mass_in_mask": loc["mass_in_mask"], "random_mass": r,
                     "enrichment": loc["mass_in_mask"] / r if r > 0 else np.nan})
    return pd.DataFrame(rows).set_index("case_id")


def covariate_order(model: PrognosisModel, data: SurvivalData, table: pd.DataFrame) -> pd.DataFrame:
    """The clinical covariates by the network's mean |attribution| (risk, against the medians) and by the truth's.

    Returns one row per clinical covariate: network (mean |attribution|), truth (mean |beta (x - median)|
    with the true beta), network_rank, truth_rank (1 = largest), sorted by the truth.
    """
    from medwb.demo.clinical import SURVIVAL_MODEL
    from medwb.demo.truth import TRUTH_NAMES

    net = [explain_clinical(model, None, data.clinical.iloc[[i]])["attribution"].abs() for i in range(len(data))] \
        if not model.has_image else _clinical_attr(model, data)
    net_mean = pd.concat(net, axis=1).mean(axis=1) if isinstance(net, list) else net
    x = _truth_design(table, data.case_ids)
    betas = SURVIVAL_MODEL["betas"]
    rows = []
    for c in model.columns:
        key = TRUTH_NAMES.get(c)
        truth = float((np.abs(x[key] - x[key].median()) * betas[key]).mean()) if key in x.columns else np.nan
        rows.append({"covariate": c, "truth_name": key, "network": float(net_mean[c]), "truth": truth})
    out = pd.DataFrame(rows).set_index("covariate")
    out["network_rank"] = out["network"].rank(ascending=False).astype(int)
    out["truth_rank"] = out["truth"].rank(ascending=False)
    return out.sort_values("truth", ascending=False)


def _clinical_attr(model: PrognosisModel, data: SurvivalData) -> pd.Series:
    """Mean |IG attribution| of the log hazard to each covariate over ``data`` (the fusion is additive,
    eta = f(image) + g(clinical), so the clinical attributions of eta do not depend on the image)."""
    import torch
    from captum.attr import IntegratedGradients

    from medwb.models.inference import inference_mode

    if model.net.clinical is None:
        return pd.Series(0.0, index=model.columns)
    z = model.clinical_tensor(data.clinical)
    z0 = model.clinical_tensor(None).expand_as(z)
    with inference_mode(model.net):
        attr = IntegratedGradients(model.net.clinical).attribute(z, baselines=z0, target=0, n_steps=32)
    return pd.Series(torch.as_tensor(attr).abs().mean(0).detach().numpy(), index=model.columns)
