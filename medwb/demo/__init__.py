"""The demo cohort: real head CT anatomy with simulated lesions, masks, diagnoses and survival.

Every tutorial, test and benchmark of medwb uses it. ``build_cohort(directory)`` writes real DICOM CT
series (one per case), NIfTI lesion masks, ``manifest.csv`` and ``ground_truth.json`` and returns a
``medwb.Cohort``; the same arguments reuse the folder instead of rebuilding it.

* anatomy  - the base head CT (Debian invesalius-examples) or a procedural phantom
* perturb  - per-case pose, elastic deformation, scanner intensity and noise
* lesions  - ring-enhancing and solid lesions with their masks
* clinical - covariates from a real table and Weibull-Cox survival with known hazard ratios
* build    - planning, parallel rendering, DICOM / NIfTI / CSV / JSON output, the build stamp
* truth    - the ground-truth coding, stated once: mask labels, diagnoses, truth columns, HR names

Example:
    >>> import medwb.demo
    >>> cohort = medwb.demo.load_cohort()     # MEDWB_DEMO_DIR; ./setup.sh builds it (n_cases=160, seed=0)
    >>> cohort.ground_truth["survival_model"]["hazard_ratios"]["ring_enhancing"]
    2.5
"""

from medwb.demo.build import DEMO_VERSION, build_cohort, default_dir, load_cohort, plan_cases, render_case
from medwb.demo.clinical import HAZARD_RATIOS, SURVIVAL_MODEL, design_matrix, hazard_ratio_check
from medwb.demo.truth import (
    DIAGNOSES,
    LABEL_LESION,
    LABEL_OEDEMA,
    MASK_LABELS,
    TRUTH_COLUMNS,
    TRUTH_NAMES,
    TRUTH_UNITS,
    hazard_truth,
)

__all__ = [
    "DEMO_VERSION",
    "DIAGNOSES",
    "HAZARD_RATIOS",
    "LABEL_LESION",
    "LABEL_OEDEMA",
    "MASK_LABELS",
    "TRUTH_COLUMNS",
    "TRUTH_NAMES",
    "TRUTH_UNITS",
    "hazard_truth",
    "SURVIVAL_MODEL",
    "build_cohort",
    "default_dir",
    "design_matrix",
    "hazard_ratio_check",
    "load_cohort",
    "plan_cases",
    "render_case",
]
