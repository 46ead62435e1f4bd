"""The teaching net learns the demo cohort's diagnosis (ring-enhancing lesion present) on held-out cases."""

import pytest

from medwb.models import CohortDataset, evaluate

pytestmark = pytest.mark.slow


def test_teaching_net_separates_ring_lesions_on_held_out_demo_cases(demo):
    net, pp, _, test_c, history = demo
    m = evaluate(net, CohortDataset(test_c, preprocess=pp), progress=False)
    assert m["n_positive"] > 0 and m["n"] > m["n_positive"]
    assert m["auc"] >= 0.85, m
    assert history["train_loss"].iloc[-3:].mean() < history["train_loss"].iloc[:3].mean()
