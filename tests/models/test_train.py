import numpy as np
import pytest
import torch

from medwb.models import (
    Augment,
    Preprocess,
    TeachingNet3D,
    VolumeDataset,
    evaluate,
    pick_device,
    predict,
    roc_auc,
    seed_everything,
    train,
)
from medwb.volume import Volume


def test_teaching_net_learns_the_ring_lesion_task(trained, datasets):
    net, history = trained
    _, va = datasets
    assert evaluate(net, va, progress=False)["auc"] >= 0.9
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_history_has_one_row_per_epoch_with_metrics(trained):
    _, history = trained
    assert list(history["epoch"]) == list(range(1, 9))
    assert {"train_loss", "val_loss", "val_auc", "val_accuracy", "lr", "seconds", "best"} <= set(history)
    assert history["best"].iloc[0]  # the first epoch is always the best so far


def test_same_seed_gives_identical_weights(datasets):
    tr, va = datasets
    small = VolumeDataset([v for v in [tr._load(i) for i in range(12)]], tr.labels[:12].tolist(),
                          preprocess=tr.preprocess)
    states = []
    for _ in range(2):
        seed_everything(3)
        net = TeachingNet3D(width=4)
        train(net, small, epochs=2, batch_size=4, seed=3, augment=Augment(), early_stopping=None, progress=False)
        states.append(net.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_different_seed_gives_different_weights(datasets):
    tr, _ = datasets
    small = VolumeDataset([tr._load(i) for i in range(8)], tr.labels[:8].tolist(), preprocess=tr.preprocess)
    out = []
    for seed in (1, 2):
        seed_everything(0)
        net = TeachingNet3D(width=4)
        train(net, small, epochs=1, batch_size=4, seed=seed, early_stopping=None, progress=False)
        out.append(net.classifier.weight.detach().clone())
    assert not torch.equal(out[0], out[1])


def test_callback_sees_every_epoch_and_can_stop_training(datasets):
    tr, va = datasets
    seen = []

    def cb(row, history):
        seen.append((row["epoch"], len(history)))
        return row["epoch"] < 2

    net = TeachingNet3D(width=4)
    h = train(net, tr, va, epochs=5, early_stopping=None, progress=False, callback=cb)
    assert seen == [(1, 1), (2, 2)] and len(h) == 2


def test_early_stopping_restores_the_best_epochs_weights(datasets):
    tr, va = datasets
    seed_everything(0)
    net = TeachingNet3D(width=4)
    h = train(net, tr, va, epochs=6, lr=0.05, early_stopping=2, monitor="val_loss", augment=None,
              progress=False)
    best = h.attrs["best_epoch"]
    assert len(h) == 6 or len(h) == best + 2
    assert evaluate(net, va, progress=False)["loss"] == pytest.approx(h.loc[best - 1, "val_loss"], rel=1e-5)


def test_predict_gives_a_probability_per_case(trained, datasets):
    net, _ = trained
    _, va = datasets
    p = predict(net, va, progress=False)
    assert list(p.index) == va.case_ids
    assert p["prob"].between(0, 1).all() and set(p["predicted"]) <= {0, 1}
    assert roc_auc(p["label"], p["prob"]) == pytest.approx(evaluate(net, va, progress=False)["auc"])


def test_predict_accepts_raw_volumes_with_preprocess(trained, synthetic):
    net, _ = trained
    vols, labels, _ = synthetic
    p = predict(net, vols[40:44], preprocess=Preprocess(spacing=3.0, shape=(48, 48, 48)), progress=False)
    assert len(p) == 4 and (p["label"] == -1).all()


def test_roc_auc_matches_hand_count():
    assert roc_auc([0, 1, 0, 1], [0.2, 0.8, 0.8, 0.9]) == pytest.approx(0.875)
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_preprocess_returns_model_grid_with_exact_affine():
    v = Volume.from_geometry(np.full((20, 40, 40), -1000, np.int16), spacing=(2.0, 1.5, 1.5),
                             origin=(10.0, -5.0, 3.0))
    m = Preprocess(spacing=3.0, shape=(16, 24, 24))(v)
    assert m.shape == (16, 24, 24) and m.spacing == pytest.approx((3.0, 3.0, 3.0))
    assert np.allclose(m.center_world(), v.center_world(), atol=3.0)
    assert m.array.dtype == np.float32 and m.array.max() == 0.0


def test_preprocess_round_trips_through_dict():
    p = Preprocess(window="brain", spacing=(2.0, 3.0, 3.0), shape=(8, 8, 8))
    assert Preprocess.from_dict(p.to_dict()) == p


def test_unknown_window_preset_is_rejected_with_choices():
    with pytest.raises(ValueError, match="brain"):
        Preprocess(window="brian")


def test_class_weights_balance_the_minority_class():
    ds = VolumeDataset([Volume.from_geometry(np.zeros((4, 4, 4)))] * 4, [0, 0, 0, 1],
                       preprocess=Preprocess(None, None, None))
    w = ds.class_weights()
    assert w[1] == pytest.approx(3 * w[0])


def test_augment_keeps_shape_and_changes_values():
    torch.manual_seed(0)
    x = torch.rand(1, 8, 16, 16)
    y = Augment()(x)
    assert y.shape == x.shape and not torch.equal(x, y)


def test_pick_device_honours_override_and_rejects_nonsense(monkeypatch):
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("MEDWB_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    with pytest.raises(ValueError, match="Fix"):
        pick_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            pick_device("cuda")
