"""TrainingMonitor: follows train()'s epochs, draws curves, and Stop ends background training."""

from __future__ import annotations

import io
import threading

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from medwb.models import train
from medwb.widgets import TrainingMonitor


def _fake_train(epochs, callback, gate=None, arrivals=None, progress=False):
    rows = []
    for epoch in range(1, epochs + 1):
        if gate is not None:
            arrivals.append(epoch)
            gate.wait(10)
            gate.clear()
        rows.append({"epoch": epoch, "train_loss": 1 / epoch, "val_loss": 1.1 / epoch, "val_auc": 0.5 + epoch / 40,
                     "val_accuracy": 0.5, "best": True, "seconds": 0.01})
        history = pd.DataFrame(rows)
        if callback(rows[-1], history) is False:
            break
    return pd.DataFrame(rows)


def test_follows_real_training_as_its_callback():
    torch.manual_seed(0)
    x = torch.randn(8, 1, 8, 8, 8)
    y = torch.tensor([0, 1] * 4)
    x[y == 1] += 1.0
    data = torch.utils.data.TensorDataset(x, y)
    net = nn.Sequential(nn.Conv3d(1, 2, 3), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2, 2))
    monitor = TrainingMonitor(epochs=3)
    history = train(net, data, data, epochs=3, batch_size=4, callback=monitor, progress=False,
                    early_stopping=None, augment=None)
    assert monitor.progress.value == 3 and len(monitor.history) == len(history) == 3
    assert "val_auc" in monitor.status.value
    img = Image.open(io.BytesIO(monitor.plot.value))
    assert img.width > 200 and np.asarray(img.convert("L")).std() > 10
    # what it shows is train()'s own history: the table, and the last epoch's numbers in the status line
    pd.testing.assert_frame_equal(monitor.history.reset_index(drop=True), history.reset_index(drop=True))
    last = history.iloc[-1]
    for key in ("train_loss", "val_loss", "val_auc"):
        assert f"{key} {last[key]:.3f}" in monitor.status.value
    assert monitor.status.value.startswith("epoch 3/3")


def test_the_plot_draws_the_history_it_was_given(monkeypatch):
    from matplotlib.figure import Figure

    monitor = TrainingMonitor(epochs=4)
    drawn = {}
    real_savefig = Figure.savefig

    def spy(fig, *args, **kwargs):  # read the figure's lines as it is encoded
        for ax in fig.axes:
            for line in ax.get_lines():
                drawn[line.get_label()] = (list(line.get_xdata()), list(line.get_ydata()))
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    _fake_train(4, monitor)
    assert drawn["train_loss"] == ([1, 2, 3, 4], [1, 1 / 2, 1 / 3, 1 / 4])
    assert drawn["val_auc"] == ([1, 2, 3, 4], [0.5 + e / 40 for e in (1, 2, 3, 4)])
    assert drawn["best"][0] == [1, 2, 3, 4]  # every epoch of the fake run is a new best
    assert monitor.status.value.startswith("epoch 4/4 · train_loss 0.250 · val_loss 0.275 · val_auc 0.600")


def test_stop_ends_background_training_after_the_current_epoch():
    gate, arrivals = threading.Event(), []
    monitor = TrainingMonitor().start(_fake_train, epochs=50, gate=gate, arrivals=arrivals)
    assert monitor.progress.max == 50
    gate.set()  # epoch 1 runs
    for _ in range(1000):  # until training waits at the start of epoch 2
        if len(arrivals) == 2:
            break
        threading.Event().wait(0.01)
    assert monitor.progress.value == 1
    monitor.stop()
    gate.set()  # epoch 2 runs, its callback sees Stop
    history = monitor.wait(10)
    assert len(history) == 2 and monitor.progress.bar_style == "success"
    assert monitor.stop_button.disabled


def test_training_errors_are_shown_not_lost():
    def broken(**kw):
        raise RuntimeError("out of memory")

    monitor = TrainingMonitor().start(broken, epochs=3)
    monitor.wait(10)
    assert "out of memory" in monitor.status.value and monitor.progress.bar_style == "danger"
