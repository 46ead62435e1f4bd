"""The demo cohort's ground-truth coding, stated once: mask labels, diagnoses, truth columns, HR names.

Everything that reads or writes the demo's truth uses these names: the generator (medwb.demo.build,
medwb.demo.lesions), the widgets' teaching mode (which columns to hide, which colours mean what),
the survival tests and notebooks (which fitted covariate matches which true hazard ratio, on which
scale). The survival model itself (hazard ratios, Weibull parameters, covariate coding) is in
medwb.demo.clinical.SURVIVAL_MODEL, written to ``ground_truth.json["survival_model"]``.

Pure Python: importing it loads nothing heavy.

Example:
    >>> LABEL_LESION, LABEL_OEDEMA, diagnosis(label=0, n_lesions=2)
    (1, 2, 'solid lesion')
    >>> hrs, names, units = hazard_truth({"survival_model": {"hazard_ratios": {"male": 1.4}}})
    >>> names, units["age"]
    ({'sex_M': 'male', 'male': 'male'}, 10.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "LABEL_BACKGROUND", "LABEL_LESION", "LABEL_OEDEMA", "MASK_LABELS", "LABEL_DEFINITION", "DIAGNOSES",
    "TRUTH_COLUMNS", "TRUTH_NAMES", "TRUTH_UNITS", "CASE_FACTS", "diagnosis", "hazard_truth", "lesion_table",
    "truth_facts",
]

#: mask label values of the demo's NIfTI masks (uint8)
LABEL_BACKGROUND = 0
LABEL_LESION = 1
LABEL_OEDEMA = 2
#: label value -> meaning (written to ground_truth.json["mask_labels"] with string keys)
MASK_LABELS: dict[int, str] = {
    LABEL_BACKGROUND: "background",
    LABEL_LESION: "lesion (enhancing rim + necrotic core, or solid mass)",
    LABEL_OEDEMA: "perilesional oedema",
}

#: what the binary ``label`` column means
LABEL_DEFINITION = "label = 1 if the case has at least one ring-enhancing lesion, else 0"
#: ``diagnosis`` column text: 1 = label 1; 0 = label 0 with a lesion; -1 = no lesion at all
DIAGNOSES: dict[int, str] = {1: "ring-enhancing lesion", 0: "solid lesion", -1: "no lesion"}

#: cohort-table columns that are ground truth (hidden from students unless teaching mode is on)
TRUTH_COLUMNS: tuple[str, ...] = ("label", "diagnosis", "n_lesions", "lesion_volume_ml", "oedema_volume_ml")

#: case-level facts of one ``ground_truth["cases"][case_id]`` entry shown beside the model's output
CASE_FACTS: tuple[str, ...] = ("diagnosis", "label")

#: covariate names a Cox design on the demo table uses -> keys of survival_model["hazard_ratios"]
TRUTH_NAMES: dict[str, str] = {
    "age": "age_per_10y", "sex_M": "male", "male": "male", "ecog": "ecog",
    "label": "ring_enhancing", "ring_enhancing": "ring_enhancing",
    "lesion_volume_ml": "lesion_volume_per_10ml",
}
#: covariate -> units per true hazard ratio (age per 10 years, lesion volume per 10 mL)
TRUTH_UNITS: dict[str, float] = {"age": 10.0, "lesion_volume_ml": 10.0}


def diagnosis(label: int, n_lesions: int) -> str:
    """The ``diagnosis`` text of a case from its label and its number of lesions.

    Example:
        >>> diagnosis(1, 1), diagnosis(0, 0)
        ('ring-enhancing lesion', 'no lesion')
    """
    return DIAGNOSES[1] if label else (DIAGNOSES[0] if n_lesions else DIAGNOSES[-1])


def lesion_table(truth: Any) -> pd.DataFrame | None:
    """Per-lesion truth as a DataFrame: from a DataFrame, a list of dicts, or one case's entry of a demo
    ``cohort.ground_truth["cases"]`` (a dict with "lesions"); None passes through.

    Example:
        >>> lesion_table({"label": 1, "lesions": [{"type": "ring", "volume_ml": 2.5}]})["type"].tolist()
        ['ring']
    """
    import pandas as pd

    if truth is None:
        return None
    if isinstance(truth, pd.DataFrame):
        return truth
    if isinstance(truth, Mapping):
        if "lesions" not in truth:
            raise ValueError(f"per-lesion truth as a dict needs a 'lesions' list, got keys {list(truth)[:8]}.\n"
                             "Fix: pass cohort.ground_truth['cases'][case_id] or a DataFrame with one row per lesion")
        truth = truth["lesions"]
    return pd.DataFrame(list(truth))


def truth_facts(truth: Any) -> dict[str, Any]:
    """The case-level facts (CASE_FACTS: diagnosis, label) of one case's demo truth entry; {} otherwise.

    Example:
        >>> truth_facts({"label": 1, "diagnosis": "ring-enhancing lesion", "lesions": []})
        {'diagnosis': 'ring-enhancing lesion', 'label': 1}
    """
    if isinstance(truth, Mapping):
        return {k: truth[k] for k in CASE_FACTS if k in truth}
    return {}


def hazard_truth(ground_truth: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:
    """(true hazard ratios, covariate -> truth key, covariate units) from a demo ``cohort.ground_truth``.

    The units put fitted hazard ratios on the truth's scale (age per 10 years, lesion volume per
    10 mL) so that fitted and true values can be compared, e.g. with
    medwb.survival.compare_hazard_ratios(model.hazard_ratios(), hrs, names=names).
    Only covariates whose truth key is present are mapped.
    """
    model = ground_truth.get("survival_model") if isinstance(ground_truth, Mapping) else None
    if not model or "hazard_ratios" not in model:
        keys = list(ground_truth)[:8] if isinstance(ground_truth, Mapping) else type(ground_truth).__name__
        raise ValueError("this ground truth has no survival_model.hazard_ratios (is it a medwb.demo cohort?); "
                         f"keys: {keys}.\nFix: pass cohort.ground_truth of a demo cohort, or truth={{covariate: "
                         "true HR}} instead")
    hrs = {str(k): float(v) for k, v in model["hazard_ratios"].items()}
    names = {c: t for c, t in TRUTH_NAMES.items() if t in hrs}
    return hrs, names, dict(TRUTH_UNITS)
