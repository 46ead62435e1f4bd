"""Deep prognosis: a survival network on image + clinical data, its honest comparison, its explanations.

* data     - cases for a network: preprocessed images, clinical design, checked outcomes (survival_data)
* net      - SurvivalNet: 3D CNN image branch + clinical branch fused late (Cox or Weibull head)
* fit      - fit_prognosis: seeded training with torchsurv's losses -> PrognosisModel
* model    - PrognosisModel: risk, survival curves with a band, safe checkpoints
* compare  - compare_prognosis: four models on the same held-out folds, one table with bootstrap CIs
* explain  - Risk / SurvivalAt targets for medwb.explain, clinical and time-dependent attributions
* truth    - checks against the demo's truth: implied hazard ratios, lesion localisation, covariate order

torch, torchsurv, captum and scikit-survival load with these submodules, not with ``import medwb``.
"""

from medwb.survival.deep.compare import ComparisonResult, compare_prognosis
from medwb.survival.deep.data import DEFAULT_CLINICAL, SurvivalData, check_horizon, survival_data
from medwb.survival.deep.explain import Risk, SurvivalAt, explain_clinical, explain_over_time
from medwb.survival.deep.fit import fit_prognosis
from medwb.survival.deep.model import PrognosisModel, load_prognosis
from medwb.survival.deep.net import SurvivalNet
from medwb.survival.deep.truth import covariate_order, implied_hazard_ratios, lesion_localisation

__all__ = [
    "ComparisonResult", "DEFAULT_CLINICAL", "PrognosisModel", "Risk", "SurvivalAt", "SurvivalData", "SurvivalNet",
    "check_horizon", "compare_prognosis", "covariate_order", "explain_clinical", "explain_over_time",
    "fit_prognosis", "implied_hazard_ratios", "lesion_localisation", "load_prognosis", "survival_data",
]
