"""AttributionExplorer: methods run in the background, panels share one slice, figures per method."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

import medwb
from medwb.widgets.attribution_explorer import AttributionExplorer


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv3d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)
        self.eval()

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


def _case():
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 1, (12, 16, 16)).astype(np.float32)
    arr[5:8, 6:10, 6:10] += 3
    vol = medwb.Volume.from_geometry(arr, spacing=(2.0, 1.0, 1.0))
    mask = np.zeros(arr.shape, np.uint8)
    mask[5:8, 6:10, 6:10] = 1
    return vol, mask


def test_run_computes_each_method_and_its_figures():
    vol, mask = _case()
    ex = AttributionExplorer(_Net(), vol, mask=mask, methods=("saliency", "gradcam"), target=1)
    ex.run(wait=True)
    assert ex.status.value == "done" and ex.progress.value == ex.progress.max
    assert set(ex.results) == {"saliency", "gradcam"}
    assert ex.results["saliency"].array.shape == vol.shape
    cols = set(ex.figures.columns)
    assert {"mass in mask", "enrichment", "pointing hit", "deletion AUC (low good)"} <= cols
    assert len(ex.panels.children) == 2 and "Grad-CAM" in ex.table.value


def test_figures_are_the_metrics_of_the_maps_shown_and_each_panel_is_its_own_map():
    from medwb.attribution import deletion_insertion, explain, localisation

    vol, mask = _case()
    net = _Net()
    ex = AttributionExplorer(net, vol, mask=mask, methods=("saliency", "gradcam"), target=1, teaching=True)
    ex.run(wait=True)
    assert ex.figures["method"].tolist() == ["Saliency", "Grad-CAM"]
    for method, row in zip(("saliency", "gradcam"), ex.figures.to_dict("records"), strict=True):
        a = ex.results[method]
        np.testing.assert_array_equal(a.array, explain(net, vol, method, 1).array)  # the map of that method
        loc = localisation(a, mask)
        assert row["mass in mask"] == pytest.approx(loc["mass_in_mask"])
        assert row["enrichment"] == pytest.approx(loc["enrichment"])
        assert row["pointing hit"] == bool(loc["pointing_hit"])
        aucs = deletion_insertion(net, a).groupby("curve")["auc"].first()
        assert row["deletion AUC (low good)"] == pytest.approx(aucs["deletion"])
        assert row["insertion AUC (high good)"] == pytest.approx(aucs["insertion"])
    titles = [box.children[0].value for box in ex.panels.children]
    assert titles == ["<b>Saliency</b>", "<b>Grad-CAM</b>"]
    saliency_png, gradcam_png = (box.children[1].value for box in ex.panels.children)
    assert saliency_png != gradcam_png  # each panel draws its own map over the same slice
    ex.teaching.value = False  # localisation against the true mask is ground truth: hidden outside teaching
    assert "mass in mask" not in ex.shown_figures().columns and "mass in mask" not in ex.table.value
    assert "deletion AUC (low good)" in ex.shown_figures().columns


def test_panels_follow_the_shared_slice():
    vol, mask = _case()
    ex = AttributionExplorer(_Net(), vol, mask=mask, methods=("saliency",), target=1)
    ex.do_deletion.value = False
    ex.run(wait=True)
    before = ex.panels.children[0].children[1].value
    ex.slice.value = 0
    assert ex.panels.children[0].children[1].value != before
    ex.plane.value = "coronal"
    assert ex.slice.max == vol.shape[1] - 1 and ex.slice.value == 8


def test_cancel_stops_before_the_next_method():
    vol, mask = _case()
    gate = threading.Event()

    class SlowNet(_Net):
        def forward(self, x):
            gate.wait(10)
            return super().forward(x)

    ex = AttributionExplorer(SlowNet(), vol, mask=mask, methods=("saliency", "gradcam"), target=1)
    task = ex.run()
    ex.cancel()  # pressed while the first map is being computed
    gate.set()
    task.join(30)
    assert task.result == "cancelled" and ex.results == {} and "cancelled" in ex.status.value
    assert not ex.run_button.disabled


def test_errors_are_shown_in_the_widget():
    vol, _ = _case()
    ex = AttributionExplorer(_Net(), vol, methods=("gradcam",), target=7)  # no class 7
    ex.run(wait=True)
    assert "failed" in ex.status.value and ex.progress.bar_style == "danger"


def test_unknown_methods_are_refused():
    with pytest.raises(ValueError, match="choose from"):
        AttributionExplorer(_Net(), _case()[0], methods=("lime",))
