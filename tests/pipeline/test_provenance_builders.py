"""One home for provenance: checkpoints, explain()'s Attribution and the pipeline's records are built
by medwb.provenance from the same parts, so the same weights, input and stack read the same in each."""

from __future__ import annotations

import numpy as np
import torch

from medwb.models import Preprocess, TeachingNet3D, load_checkpoint, save_checkpoint, state_fingerprint
from medwb.provenance import flat_provenance, make_provenance, pixel_hash, render, versions
from medwb.volume import Volume


def _net() -> TeachingNet3D:
    torch.manual_seed(0)
    return TeachingNet3D(width=2).eval()


def test_checkpoint_explain_and_pipeline_records_agree_on_weights_and_versions(tmp_path):
    from medwb.attribution import explain

    net = _net()
    _, info = load_checkpoint(save_checkpoint(tmp_path / "n.pt", net, seed=3, data_hash="d1"))
    vol = Volume.from_geometry(np.random.default_rng(0).normal(size=(16, 16, 16)).astype(np.float32))
    att = explain(net, vol, method="saliency", target=1, preprocess=Preprocess(window=None, spacing=None,
                                                                                   shape=(16, 16, 16)))
    rec = make_provenance(volume=vol, model=net, seed=3)
    ckpt, expl = info["provenance"], att.provenance
    assert ckpt["weights_hash"] == expl["weights_hash"] == rec["model"]["weights_hash"] == state_fingerprint(net)
    for key, value in versions().items():  # before: checkpoints carried 4 versions, explain 5
        assert ckpt[key] == expl[key] == rec["versions"][key] == value
    assert ckpt["seed"] == 3 and ckpt["data_hash"] == "d1" and "saved_at" in ckpt


def test_explain_hashes_its_input_as_the_pipeline_hashes_pixels():
    from medwb.attribution import explain

    vol = Volume.from_geometry(np.random.default_rng(1).normal(size=(16, 16, 16)).astype(np.float32))
    att = explain(_net(), vol, method="saliency", target=1)
    assert att.provenance["input_hash"] == pixel_hash(att.model_input.array)  # before: another hash
    assert "pixels " + att.provenance["input_hash"][:12] in render(att.provenance)


def test_flat_records_carry_what_they_are_given():
    p = flat_provenance(model=_net(), device="cpu", time_key="saved_at", seed=None)
    assert p["model_class"] == "TeachingNet3D" and p["device"] == "cpu" and p["seed"] is None
    assert "saved_at" in p and "created_at" not in p and "input_hash" not in p
