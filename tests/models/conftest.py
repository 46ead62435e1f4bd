"""Shared data for model and explanation tests: small synthetic cohorts and a trained teaching net."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from medwb.models import (  # noqa: E402
    Preprocess,
    TeachingNet3D,
    VolumeDataset,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    train,
)
from medwb.models.synthetic import synthetic_cases  # noqa: E402

PP = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))


@pytest.fixture(scope="session")
def synthetic():
    """60 synthetic CTs (label 1 = ring-enhancing lesion) with lesion masks."""
    return synthetic_cases(60, seed=0)


@pytest.fixture(scope="session")
def datasets(synthetic):
    vols, labels, _ = synthetic
    return (VolumeDataset(vols[:40], labels[:40], preprocess=PP),
            VolumeDataset(vols[40:], labels[40:], preprocess=PP))


@pytest.fixture(scope="session")
def trained(datasets, tmp_path_factory):
    """A TeachingNet3D trained briefly on the synthetic task; trained once per session (both test
    folders share it through a checkpoint in the session's base temp dir)."""
    path = tmp_path_factory.getbasetemp() / "shared_trained_teaching_net.pt"
    if path.exists():
        net, info = load_checkpoint(path)
        return net, info["history"]
    tr, va = datasets
    seed_everything(0)
    net = TeachingNet3D(width=8)
    history = train(net, tr, va, epochs=8, batch_size=4, augment=None, early_stopping=None, progress=False)
    save_checkpoint(path, net, preprocess=PP, seed=0, history=history)
    return net, history


DEMO_CASES = 60  # of the default demo cohort: enough for a stable held-out AUC, ~20 s of training


@pytest.fixture(scope="session")
def demo(demo_cohort, tmp_path_factory):
    """(net, preprocess, train cohort, test cohort, history): TeachingNet3D trained on the first
    DEMO_CASES demo cases (70/30 stratified split). Trained once per session and shared with
    tests/explain through a checkpoint in the session's base temp dir."""
    cohort = demo_cohort.subset(demo_cohort.case_ids[:DEMO_CASES])
    train_c, test_c = cohort.split(test_size=0.3, seed=0)
    path = tmp_path_factory.getbasetemp() / "shared_demo_teaching_net.pt"
    if path.exists():
        net, info = load_checkpoint(path)
        return net, info["preprocess"], train_c, test_c, info["history"]
    pp = Preprocess()  # brain window, 3 mm voxels, 64³
    seed_everything(0)
    net = TeachingNet3D()
    history = train(net, train_c, epochs=20, batch_size=8, seed=0, preprocess=pp, val_fraction=0.2,
                    early_stopping=None, progress=False)
    save_checkpoint(path, net, preprocess=pp, seed=0, history=history)
    return net, pp, train_c, test_c, history
