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
