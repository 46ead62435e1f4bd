"""CaseViewer (Python side): planes, window, overlay, contours, crosshair readout, static fallback."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

import medwb
from medwb.widgets import CaseViewer


def _case():
    z, y, x = np.mgrid[:12, :20, :24]
    hu = (np.sin(x / 3.0) * 200 + z * 30).astype(np.int16)
    vol = medwb.Volume.from_geometry(hu, spacing=(3.0, 1.0, 0.5), origin=(10, 20, 30), modality="CT")
    attr = np.zeros(hu.shape, np.float32)
    attr[6, 2:8, 2:8] = 1.0     # positive blob
    attr[6, 12:18, 14:20] = -1.0  # negative blob
    mask = np.zeros(hu.shape, np.uint8)
    mask[5:8, 10:13, 4:9] = 1
    return vol, attr, mask


def _rgb(viewer, plane):
    h, w = viewer.canvas.sizes[plane]
    return np.frombuffer(getattr(viewer.canvas, plane), np.uint8).reshape(h, w, 4)[..., :3]


def test_moving_the_axial_slider_rerenders_only_the_axial_plane():
    vol, attr, mask = _case()
    v = CaseViewer(vol, attr, mask=mask)
    before = {p: getattr(v.canvas, p) for p in ("axial", "coronal", "sagittal")}
    v.sliders["axial"].value = 2
    assert v.canvas.position[0] == 2 and v.canvas.rendered["axial"] == 2
    assert v.canvas.axial != before["axial"]
    assert v.canvas.coronal == before["coronal"] and v.canvas.sagittal == before["sagittal"]


def test_a_click_in_the_page_moves_sliders_and_reads_out_hu_attribution_and_world_mm():
    vol, attr, mask = _case()
    v = CaseViewer(vol, attr, mask=mask, teaching=True)  # the mask label is ground truth
    v.canvas.position = [6, 3, 4]  # what the browser sends on a click
    assert [v.sliders[p].value for p in ("axial", "coronal", "sagittal")] == [6, 3, 4]
    r = v.readout_values()
    assert r["hu"] == float(vol.array[6, 3, 4]) and r["attribution"] == 1.0 and r["label"] == 0
    assert np.allclose(r["world_mm"], vol.index_to_world([6, 3, 4]))
    assert "voxel (6, 3, 4)" in v.readout.value and "LPS (12.0, 23.0, 48.0) mm" in v.readout.value


def test_opens_on_the_lesion_centre():
    vol, attr, mask = _case()
    assert CaseViewer(vol, mask=mask).position == (6, 11, 6)


def test_window_presets_set_level_and_width_and_dragging_them_makes_it_custom():
    vol, _, _ = _case()
    v = CaseViewer(vol, window="bone")
    assert (v.level.value, v.width.value) == (600.0, 2800.0)
    frame = v.canvas.axial
    v.width.value = 300
    assert v.window.value == "custom" and v.canvas.axial != frame
    v.set_window("brain")
    assert (v.level.value, v.width.value) == (40.0, 80.0)
    with pytest.raises(ValueError, match="presets"):
        v.set_window("nope")


def test_signed_maps_use_two_colormaps():
    vol, attr, _ = _case()
    v = CaseViewer(vol, attr, position=(6, 0, 0), window=(0, 10_000))
    assert v.signed
    v.cmap.value = "Reds"
    rgb = _rgb(v, "axial").astype(int)
    pos, neg = rgb[4, 4], rgb[15, 17]
    assert pos[0] > pos[2] + 40, f"positive attribution should be warm, got {pos}"
    assert neg[2] > neg[0] + 40, f"negative attribution should be cool, got {neg}"


def test_threshold_and_opacity_control_the_overlay():
    vol, attr, _ = _case()
    v = CaseViewer(vol, np.clip(attr, 0, None) * np.linspace(0, 1, 24)[None, None, :],
                   position=(6, 0, 0))
    assert not v.signed
    plain = CaseViewer(vol, position=(6, 0, 0))
    covered = lambda: (_rgb(v, "axial") != _rgb(plain, "axial")).any(axis=2).sum()  # noqa: E731
    v.threshold.value = 0.0
    n_low = covered()
    v.threshold.value = 0.6
    assert 0 < covered() < n_low
    v.opacity.value = 0.0
    assert covered() == 0
    v.opacity.value = 0.5
    v.show_overlay.value = False
    assert covered() == 0


def test_ground_truth_and_segmentation_outlines_have_their_colours():
    vol, _, mask = _case()
    seg = np.roll(mask, 3, axis=2)
    v = CaseViewer(vol, mask=mask, segmentation=seg, window=(0, 10_000), teaching=True)
    rgb = _rgb(v, "axial")
    assert (rgb == [255, 59, 48]).all(axis=2).sum() >= 10
    assert (rgb == [0, 199, 255]).all(axis=2).sum() >= 5
    v.show_contours.value = False
    assert not (_rgb(v, "axial") == [255, 59, 48]).all(axis=2).any()


def test_maps_on_another_grid_are_refused_with_the_fix():
    vol, _, _ = _case()
    with pytest.raises(ValueError, match=r"(?s)shape \(3, 3, 3\).*resample_like"):
        CaseViewer(vol, np.zeros((3, 3, 3)))


def test_accepts_an_attribution_like_object():
    vol, attr, _ = _case()

    class Attribution:
        array = attr

    assert CaseViewer(vol, Attribution()).attribution is attr


def test_planes_keep_millimetre_aspect():
    vol, _, _ = _case()
    v = CaseViewer(vol)
    assert v.canvas.sizes == {"axial": [20, 24], "coronal": [12, 24], "sagittal": [12, 20]}
    assert v.canvas.pixel_mm == {"axial": [1.0, 0.5], "coronal": [3.0, 0.5], "sagittal": [3.0, 1.0]}


def test_load_shows_another_case_in_the_same_viewer():
    vol, attr, mask = _case()
    v = CaseViewer(vol, attr, mask=mask)
    other = medwb.Volume.from_geometry(np.zeros((5, 6, 7), np.int16), modality="CT")
    v.load(other, title="case-002")
    assert v.canvas.shape == [5, 6, 7] and v.sliders["axial"].max == 4 and v.attribution is None
    assert "case-002" in v.title.value and len(v.canvas.axial) == 6 * 7 * 4


def test_static_fallback_is_a_png_of_the_three_planes():
    vol, attr, mask = _case()
    bundle = CaseViewer(vol, attr, mask=mask)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    img = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
    assert "application/vnd.jupyter.widget-view+json" in data
    assert img.width > img.height and np.asarray(img.convert("L")).std() > 5


def test_static_fallback_follows_the_position_and_shows_the_truth_only_in_teaching_mode():
    vol, attr, mask = _case()
    v = CaseViewer(vol, attr, mask=mask, teaching=False)

    def fallback():
        bundle = v._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).convert("RGB"))

    hidden = fallback()
    assert np.array_equal(hidden, np.asarray(Image.open(io.BytesIO(v.to_png())).convert("RGB")))
    assert not (hidden == [255, 59, 48]).all(axis=2).any()  # no ground-truth outline
    v.teaching.value = True
    assert (fallback() == [255, 59, 48]).all(axis=2).sum() >= 10
    v.canvas.position = [1, 3, 4]  # a click elsewhere: the fallback shows the new planes
    assert not np.array_equal(fallback(), hidden)


def test_neighbouring_slices_are_sent_ahead_and_dropped_when_settings_change():
    vol, attr, _ = _case()
    v = CaseViewer(vol, attr, position=(6, 10, 12), prefetch=2)
    sent = []
    v.canvas.send_frames = lambda frames: sent.extend((p, i) for p, i, *_ in frames)
    v.sliders["axial"].value = 7  # one step: only the new edge slice is missing in the page
    assert sent == [("axial", 9)]
    version = v.canvas.version
    sent.clear()
    v.opacity.value = 0.9  # new settings: all frames in the page are stale
    assert v.canvas.version == version + 1
    assert sorted(sent) == [("axial", 5), ("axial", 6), ("axial", 8), ("axial", 9)]
    # a frame sent ahead is exactly what the page would get for that slice
    ahead = v._frame_bytes("axial", 8)
    v.sliders["axial"].value = 8
    assert v.canvas.axial == ahead == v.frame("axial").tobytes()


def test_non_ct_volumes_get_a_percentile_window_and_fitting_sliders():
    rng = np.random.default_rng(0)
    mr = medwb.Volume.from_geometry(rng.uniform(0.0, 1.0, (6, 10, 12)).astype(np.float32), modality="MR")
    v = CaseViewer(mr)
    assert v.window.value == "custom" and 0.4 < v.level.value < 0.6 and 0.9 < v.width.value < 1.0
    assert v.level.max <= 1.0 and v.width.step < 0.01
    assert len(set(_rgb(v, "axial")[..., 0].ravel())) > 50  # a real gray range, not black and white
