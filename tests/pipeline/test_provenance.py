"""Provenance: hashes that move when data or weights move, versions and parameters recorded."""

from __future__ import annotations

import importlib.metadata
import platform

import numpy as np
import pytest

from medwb.provenance import (
    data_identity,
    make_provenance,
    model_identity,
    pixel_hash,
    read_sidecar,
    render,
    to_columns,
    versions,
    write_sidecar,
)
from medwb.volume import Volume


def _vol(seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 1000, size=(6, 7, 8)).astype(np.int16)
    return Volume.from_geometry(arr, spacing=(2.0, 0.5, 0.5), origin=(1.0, 2.0, 3.0))


def test_pixel_hash_changes_when_one_voxel_changes():
    v = _vol()
    w = v.with_array(v.array.copy())
    assert pixel_hash(v) == pixel_hash(w)
    w.array[3, 4, 5] += 1
    assert pixel_hash(v) != pixel_hash(w)


def test_pixel_hash_sees_geometry_dtype_and_shape():
    v = _vol()
    shifted = Volume(v.array, v.affine.copy(), v.modality)
    shifted.affine[0, 3] += 0.5
    assert pixel_hash(v) != pixel_hash(shifted)
    assert pixel_hash(v) != pixel_hash(v.with_array(v.array.astype(np.int32)))
    assert pixel_hash(v.array) != pixel_hash(v.array.reshape(7, 6, 8))


def test_data_identity_carries_the_series_uids_of_a_real_series(demo_cohort):
    cid = demo_cohort.case_ids[0]
    vol = demo_cohort.volume(cid)
    ident = data_identity(vol, cid)
    assert ident["series_uid"] == vol.meta["series_uid"] and ident["study_uid"] == vol.meta["study_uid"]
    assert ident["pixel_hash"] == pixel_hash(vol) and ident["shape"] == list(vol.shape)


def test_model_hash_changes_when_one_weight_changes():
    torch = pytest.importorskip("torch")
    from medwb.models import TeachingNet3D, seed_everything

    seed_everything(0)
    net = TeachingNet3D(width=2)
    before = model_identity(net)
    seed_everything(0)
    assert model_identity(TeachingNet3D(width=2))["weights_hash"] == before["weights_hash"]
    with torch.no_grad():
        net.classifier.weight[0, 0] += 1e-3
    after = model_identity(net)
    assert after["weights_hash"] != before["weights_hash"]
    assert after["model_class"] == "TeachingNet3D" and after["model_config"]["width"] == 2


def test_versions_of_the_stack_are_recorded():
    v = versions()
    for pkg in ("medwb", "torch", "captum", "lifelines", "numpy"):
        assert v[pkg] == importlib.metadata.version(pkg)
    assert v["python"] == platform.python_version()


def test_record_holds_seed_parameters_and_time_and_survives_json(tmp_path):
    rec = make_provenance(volume=_vol(), case_id="c7", seed=11,
                          params={"method": "saliency", "shape": (32, 32, 32), "gain": np.float32(0.5)})
    back = read_sidecar(write_sidecar(tmp_path / "c7.json", rec))
    assert back["run"]["seed"] == 11 and back["run"]["params"]["shape"] == [32, 32, 32]
    assert back["run"]["params"]["gain"] == 0.5 and back["run"]["created_at"].endswith("+00:00")
    assert back["data"]["pixel_hash"] == pixel_hash(_vol())
    cols = to_columns(back)
    assert cols["prov_seed"] == 11 and cols["prov_pixel_hash"] == back["data"]["pixel_hash"]


def test_render_gives_short_text_and_a_widget_dict():
    v = _vol()
    v.meta["series_uid"] = "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15"
    rec = make_provenance(volume=v, case_id="c1", seed=3, device="cpu",
                          model_info={"model_class": "TeachingNet3D", "weights_hash": "abcdef0123456789"},
                          params={"explain_method": "saliency", "target": 1})
    text = render(rec)
    assert len(text.splitlines()) <= 6 and "c1" in text and "TeachingNet3D" in text
    assert "explain_method=saliency" in text and "…" in text  # long hashes are shortened
    short = render(rec, "dict")
    assert short["seed"] == "3" and short["model"] == "TeachingNet3D" and short["series"].endswith("14.15")
    with pytest.raises(ValueError, match="style"):
        render(rec, "html")


def test_render_also_reads_an_attribution_provenance():
    torch = pytest.importorskip("torch")
    from medwb.attribution import explain
    from medwb.models import TeachingNet3D, seed_everything, state_fingerprint

    seed_everything(0)
    net = TeachingNet3D(width=2).eval()
    att = explain(net, np.zeros((16, 16, 16), np.float32), method="saliency", target=1)
    short = render(att.provenance, "dict")
    assert short["model"] == "TeachingNet3D" and state_fingerprint(net).startswith(short["weights"].rstrip("…"))
    assert f"torch {torch.__version__}" in short["versions"]
    assert "pixels" in render(att.provenance)
