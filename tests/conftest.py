"""Shared fixtures. The demo cohort is built once (by ./setup.sh, into data/demo) and reused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("MEDWB_DEMO_DIR", str(REPO / "data" / "demo"))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def demo_cohort():
    """The default demo cohort (built by set-up; built here if missing)."""
    import medwb

    return medwb.demo.load_cohort()


# -- models and explanations: small synthetic cohorts and trained teaching nets --------------------
# (shared by tests/models and tests/explain; each net is trained once per session)

DEMO_CASES = 60  # of the default demo cohort: enough for a stable held-out AUC, ~20 s of training


def _synthetic_preprocess():
    from medwb.models import Preprocess

    return Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))


@pytest.fixture(scope="session")
def synthetic():
    """60 synthetic CTs (label 1 = ring-enhancing lesion) with lesion masks."""
    from medwb.models.synthetic import synthetic_cases

    return synthetic_cases(60, seed=0)


@pytest.fixture(scope="session")
def datasets(synthetic):
    from medwb.models import VolumeDataset

    vols, labels, _ = synthetic
    pp = _synthetic_preprocess()
    return (VolumeDataset(vols[:40], labels[:40], preprocess=pp),
            VolumeDataset(vols[40:], labels[40:], preprocess=pp))


@pytest.fixture(scope="session")
def trained(datasets):
    """(net, history): a TeachingNet3D trained briefly on the synthetic task."""
    from medwb.models import TeachingNet3D, seed_everything, train

    tr, va = datasets
    seed_everything(0)
    net = TeachingNet3D(width=8)
    history = train(net, tr, va, epochs=8, batch_size=4, augment=None, early_stopping=None, progress=False)
    return net, history


@pytest.fixture(scope="session")
def demo(demo_cohort):
    """(net, preprocess, train cohort, test cohort, history): TeachingNet3D trained on the first
    DEMO_CASES demo cases (70/30 stratified split)."""
    from medwb.models import Preprocess, TeachingNet3D, seed_everything, train

    cohort = demo_cohort.subset(demo_cohort.case_ids[:DEMO_CASES])
    train_c, test_c = cohort.split(test_size=0.3, seed=0)
    pp = Preprocess()  # brain window, 3 mm voxels, 64³
    seed_everything(0)
    net = TeachingNet3D()
    history = train(net, train_c, epochs=20, batch_size=8, seed=0, preprocess=pp, val_fraction=0.2,
                    early_stopping=None, progress=False)
    return net, pp, train_c, test_c, history
