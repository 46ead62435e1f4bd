"""Shared, session-scoped prognosis fixtures: the demo's cases on a coarse grid and one trained fusion net.

Training is the expensive part, so one fusion network (all 160 demo cases) serves every truth check,
explanation and widget test; the comparison table is computed once, with small settings.
"""

from __future__ import annotations

import pandas as pd
import pytest

#: the grid the tests train on: 6 mm voxels, 24 × 32 × 32 (144 × 192 × 192 mm), four times cheaper than 4 mm
TEST_GRID = {"window": "brain", "spacing": 6.0, "shape": (24, 32, 32)}
#: training settings of the tests' networks (the bench trains with the defaults)
TEST_TRAIN = {"epochs": 12, "width": 8, "batch_size": 16, "lr": 3e-3}


@pytest.fixture(scope="session")
def deep_data(demo_cohort):
    from medwb.models import Preprocess
    from medwb.survival.deep import survival_data

    return survival_data(demo_cohort, preprocess=Preprocess(**TEST_GRID), progress=False)


@pytest.fixture(scope="session")
def train_settings() -> dict:
    return dict(TEST_TRAIN)


@pytest.fixture(scope="session")
def fusion(deep_data):
    from medwb.survival.deep import fit_prognosis

    return fit_prognosis(deep_data, "fusion", progress=False, seed=0, **TEST_TRAIN)


@pytest.fixture(scope="session")
def lesion_feature_table(demo_cohort) -> pd.DataFrame:
    from medwb.survival.deep.compare import lesion_features

    return lesion_features(demo_cohort, progress=False)


@pytest.fixture
def tiny_table() -> pd.DataFrame:
    return pd.DataFrame({"case_id": [f"c{i}" for i in range(8)], "time": [5.0, 8, 3, 9, 4, 7, 2, 6],
                         "event": [1, 0, 1, 1, 1, 0, 1, 1], "age": [50, 60, 70, 55, 65, 45, 80, 62],
                         "sex": list("MFMFMFMF"), "ecog": [0, 1, 2, 0, 1, 0, 2, 1]})
