"""The Roe & Metz simulator: seeded, labelled as simulated, and it hits the AUCs it is asked for."""

from __future__ import annotations

import numpy as np

from medwb.readers import StudyDesign, mrmc, simulate_readers, simulate_study
from medwb.readers.store import AnswerStore


def test_same_seed_same_study_other_seed_other_study():
    a, b, c = (simulate_study(n_readers=3, n_cases=30, seed=s) for s in (1, 1, 2))
    assert a.equals(b) and not a.rating.equals(c.rating)


def test_simulated_tables_are_labelled():
    df = simulate_study(n_readers=2, n_cases=10)
    assert df.attrs["simulated"] and (df.source == "simulated (Roe & Metz)").all()
    assert df.reader.str.startswith("sim-").all()


def test_mean_reader_auc_is_close_to_the_requested_auc():
    res = mrmc(simulate_study(n_readers=20, n_cases=2000, auc=(0.75, 0.9), seed=0))
    np.testing.assert_allclose(res.modality_auc.to_numpy(), [0.75, 0.9], atol=0.02)


def test_rating_scales():
    five = simulate_study(n_readers=2, n_cases=40, scale="1-5")
    assert set(five.rating.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0} and five.rating.nunique() == 5
    slider = simulate_study(n_readers=2, n_cases=40, scale="0-100")
    assert slider.rating.between(0, 100).all() and (slider.rating == slider.rating.round()).all()


def test_simulated_readers_fill_a_store_that_mrmc_can_analyse():
    cases = [f"c{i}" for i in range(30)]
    d = StudyDesign("sim", cases=cases, truth={c: i % 3 == 0 for i, c in enumerate(cases)},
                    readers=["sim-1", "sim-2", "sim-3"], scale="0-100")
    store = AnswerStore("sqlite://")
    store.save_design(d)
    assert simulate_readers(d, store, seed=2) == 180
    assert simulate_readers(d, store, seed=2) == 0  # a second run adds nothing
    res = mrmc(store.ratings("sim"), design=d)
    assert res.auc.shape == (3, 2) and list(res.contrasts.index) == ["image+AI - image"]
