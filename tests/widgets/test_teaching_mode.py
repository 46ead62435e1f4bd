"""Teaching mode: ground truth hidden by default, revealed by each widget's toggle or set_teaching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import medwb
from medwb.widgets import (
    AttributionExplorer,
    CaseViewer,
    CohortBrowser,
    SurvivalExplorer,
    Viewer3D,
    set_teaching,
    teaching_enabled,
)
from medwb.widgets.teaching import demo_hazard_truth, lesions_from_mask

RED = [255, 59, 48]      # ground-truth lesion outline (label 1)
CYAN = [0, 199, 255]     # the model's segmentation outline


def _case():
    z, y, x = np.mgrid[:12, :20, :24]
    vol = medwb.Volume.from_geometry((np.sin(x / 3.0) * 200).astype(np.int16), spacing=(2.0, 1.0, 1.0),
                                     modality="CT")
    mask = np.zeros(vol.shape, np.uint8)
    mask[5:8, 8:14, 4:10] = 1          # 3 x 6 x 6 voxels of 2 mm^3 = 0.216 mL
    mask[5:8, 8:14, 10:12] = 2         # oedema beside it
    return vol, mask


def _red(viewer, plane="axial"):
    h, w = viewer.canvas.sizes[plane]
    rgb = np.frombuffer(getattr(viewer.canvas, plane), np.uint8).reshape(h, w, 4)[..., :3]
    return int((rgb == RED).all(axis=2).sum()), int((rgb == CYAN).all(axis=2).sum())


def test_case_viewer_hides_the_true_outline_until_the_toggle_is_pressed():
    vol, mask = _case()
    seg = np.roll(mask == 1, 5, axis=2).astype(np.uint8)
    v = CaseViewer(vol, mask=mask, segmentation=seg, window=(0, 10_000))
    assert v.teaching.value is False and v.teaching.layout.display is None   # the button is on show
    red, cyan = _red(v)
    assert red == 0 and cyan > 0                    # the model's output is shown, the truth is not
    assert "label" not in v.readout_values() and v.truth_box.value == ""
    v.teaching.value = True                         # what a click on "Show ground truth" sends
    red, cyan_on = _red(v)
    assert red >= 10 and cyan_on > 0
    assert v.readout_values()["label"] in (0, 1, 2)
    assert "Ground truth" in v.truth_box.value and "0.22 mL" in v.truth_box.value
    v.teaching.value = False
    assert _red(v)[0] == 0 and v.truth_box.layout.display == "none"


def test_case_viewer_without_truth_has_no_toggle_on_show():
    vol, _ = _case()
    assert CaseViewer(vol).teaching.layout.display == "none"


def test_per_lesion_truth_from_the_demo_is_shown_with_type_and_volume():
    vol, mask = _case()
    entry = {"label": 1, "diagnosis": "ring-enhancing lesion",
             "lesions": [{"type": "ring", "volume_ml": 12.5, "oedema_ml": 3.0, "centre_index": [6, 10, 7]}]}
    v = CaseViewer(vol, mask=mask, truth=entry, teaching=True)
    html = v.truth_box.value
    assert "ring-enhancing lesion" in html and "<b>ring</b>" in html and "12.50 mL" in html
    assert "centre voxel (6, 10, 7)" in html


def test_set_teaching_flips_open_widgets_and_sets_the_default_for_new_ones():
    vol, mask = _case()
    a, b = CaseViewer(vol, mask=mask), CaseViewer(vol, mask=mask, teaching=False)
    assert not teaching_enabled()
    set_teaching(True)
    assert teaching_enabled() and a.teaching.value and b.teaching.value and _red(a)[0] > 0
    assert CaseViewer(vol, mask=mask).teaching.value is True
    assert CaseViewer(vol, mask=mask, teaching=False).teaching.value is False  # explicit wins at creation
    set_teaching(False)
    assert not a.teaching.value and _red(a)[0] == 0
    with pytest.raises(TypeError, match="True or False"):
        set_teaching("yes")


def test_lesions_from_mask_measures_each_lesion_and_its_oedema():
    _, mask = _case()
    second = mask.copy()
    second[0:2, 0:2, 0:2] = 1
    table = lesions_from_mask(second, (2.0, 1.0, 1.0))
    assert sorted(table["volume_ml"]) == pytest.approx([0.016, 0.216])
    assert table.loc[table["volume_ml"] == 0.216, "oedema_ml"].item() == pytest.approx(0.072)


def test_cohort_browser_hides_truth_columns_and_their_filters_until_teaching(tiny_cohort):
    b = CohortBrowser(tiny_cohort)
    assert "label" not in b.table.columns and "age" in b.table.columns
    assert all(len(r) == len(b.table.columns) for r in b.table.rows)
    b.query.value = "label == 1"                    # a student trying to peek through the filter
    assert b.table.rows == [] and "ground truth, shown in teaching mode" in b.status.value
    b.query.value = ""
    viewer = b.open_case("case-1")
    assert "label" not in viewer.title.value and _red(viewer)[0] == 0
    b.teaching.value = True
    assert "label" in b.table.columns
    assert viewer.teaching.value and _red(viewer)[0] > 0 and "label 1" in viewer.title.value
    b.query.value = "label == 1"
    assert sorted(r[0] for r in b.table.rows) == ["case-1", "case-3"]
    b.teaching.value = False
    assert "label" not in b.table.columns and not viewer.teaching.value


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv3d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)
        self.eval()

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


def test_attribution_explorer_adds_localisation_and_outlines_only_in_teaching_mode():
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 1, (12, 16, 16)).astype(np.float32)
    arr[5:8, 6:10, 6:10] += 3
    vol = medwb.Volume.from_geometry(arr, spacing=(2.0, 1.0, 1.0))
    mask = np.zeros(arr.shape, np.uint8)
    mask[5:8, 6:10, 6:10] = 1
    ex = AttributionExplorer(_Net(), vol, mask=mask, methods=("saliency",), target=1)
    ex.do_deletion.value = False
    ex.run(wait=True)
    assert "mass in mask" in ex.figures.columns          # computed, for the teacher's code
    assert "mass in mask" not in ex.table.value and "enrichment" not in ex.table.value
    off = ex.panels.children[0].children[1].value
    frame_off = ex.panel_frame("saliency")
    result = ex.results["saliency"]
    ex.teaching.value = True
    assert "mass in mask" in ex.table.value and "pointing hit" in ex.table.value
    assert "Ground truth" in ex.truth_box.value
    assert ex.panels.children[0].children[1].value != off
    assert (ex.panel_frame("saliency")[..., :3] == RED).all(axis=2).sum() > 0
    assert not (frame_off[..., :3] == RED).all(axis=2).any()
    assert ex.results["saliency"] is result               # no recomputation


def _survival(n=150, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(65, 8, n)
    sex = rng.choice(["M", "F"], n)
    vol = rng.gamma(2.0, 8.0, n)
    hazard = np.exp(np.log(1.25) * (age - 60) / 10 + np.log(1.4) * (sex == "M") + np.log(1.2) * vol / 10)
    t = rng.exponential(400 / hazard)
    c = rng.exponential(900, n)
    table = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "age": age, "sex": sex,
                          "lesion_volume_ml": vol, "time": np.minimum(t, c), "event": (t <= c).astype(int)})
    truth = {"survival_model": {"hazard_ratios": {"age_per_10y": 1.25, "male": 1.4, "ecog": 1.5,
                                                  "lesion_volume_per_10ml": 1.2}}}
    return table, truth


def test_survival_explorer_draws_true_hazard_ratios_only_in_teaching_mode():
    table, truth = _survival()
    s = SurvivalExplorer(table, clinical=["age", "sex"], image=["lesion_volume_ml"],
                         features=table[["case_id"]], truth=truth)
    assert s.teaching.layout.display is None
    hr = s.model.hazard_ratios()
    assert hr.loc["age", "per"] == 10.0            # on the truth's scale (per 10 years)
    assert s.comparison is None and s.truth_table.value == ""
    plain = s.forest_image.value
    model = s.model
    s.teaching.value = True
    assert s.model is model                          # no refit, only the picture and the table change
    assert s.forest_image.value != plain
    comp = s.comparison
    assert comp.loc["sex_M", "true_hr"] == 1.4 and comp.loc["age", "true_hr"] == 1.25
    assert "true_hr" in s.truth_table.value and "covered" in s.truth_table.value
    s.feature_set.value = "both"                     # refits keep the truth on show
    assert s.comparison.loc["lesion_volume_ml", "true_hr"] == 1.2
    both = s.forest_image.value
    s.teaching.value = False
    assert s.comparison is None and s.truth_table.value == "" and s.forest_image.value != both


def test_survival_explorer_without_truth_has_no_toggle_on_show():
    table, _ = _survival()
    assert SurvivalExplorer(table, clinical=["age", "sex"]).teaching.layout.display == "none"


def test_demo_hazard_truth_maps_design_names_and_units():
    hrs, names, units = demo_hazard_truth({"survival_model": {"hazard_ratios": {"male": 1.4, "ecog": 1.5}}})
    assert hrs == {"male": 1.4, "ecog": 1.5} and names == {"sex_M": "male", "male": "male", "ecog": "ecog"}
    with pytest.raises(ValueError, match="truth="):
        demo_hazard_truth({"cases": {}})


def test_viewer3d_mask_layer_is_transparent_until_teaching():
    vol, mask = _case()
    v = Viewer3D(vol, mask=mask)
    assert v.nv.volumes[-1].opacity == 0.0
    v.teaching.value = True
    assert v.nv.volumes[-1].opacity == pytest.approx(0.35)
