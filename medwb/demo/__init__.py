"""The demo cohort: real head CT anatomy with simulated lesions, masks, diagnoses and survival.

Every tutorial, test and benchmark of medwb uses it. ``build_cohort(directory)`` writes real DICOM CT
series (one per case), NIfTI lesion masks, ``manifest.csv`` and ``ground_truth.json`` and returns a
``medwb.Cohort``; the same arguments reuse the folder instead of rebuilding it.

* anatomy  - the base head CT (Debian invesalius-examples) or a procedural phantom
* perturb  - per-case pose, elastic deformation, scanner intensity and noise
* lesions  - ring-enhancing and solid lesions with their masks
* clinical - covariates from a real table and Weibull-Cox survival with known hazard ratios
* build    - planning, parallel rendering, DICOM / NIfTI / CSV / JSON output, the build stamp

Example:
    >>> import medwb.demo
    >>> cohort = medwb.demo.build_cohort(n_cases=160, seed=0)  # doctest: +SKIP
    >>> cohort.ground_truth["survival_model"]["hazard_ratios"]["ring_enhancing"]  # doctest: +SKIP
    2.5
"""

from medwb.demo.build import DEMO_VERSION, build_cohort, default_dir, load_cohort, plan_cases, render_case
from medwb.demo.clinical import HAZARD_RATIOS, SURVIVAL_MODEL, design_matrix, hazard_ratio_check

__all__ = [
    "DEMO_VERSION",
    "HAZARD_RATIOS",
    "SURVIVAL_MODEL",
    "build_cohort",
    "default_dir",
    "design_matrix",
    "hazard_ratio_check",
    "load_cohort",
    "plan_cases",
    "render_case",
]
