"""One home each for display scale, sign, windowing and outlines; every viewer and figure uses it.

Before: Attribution.normalized (and so the notebooks and medwb.attribution.plots) scaled a map by a
percentile over *all* voxels, the viewers over the non-zero ones; the AttributionExplorer, Viewer3D
and the static PNG called any map with one negative speck "signed", the CaseViewer did not; the
SliceViewer drew outlines with np.roll (wrapping around the image edge), the CaseViewer without.
These tests fail on those copies.
"""

from __future__ import annotations

import numpy as np
import pytest

import medwb
from medwb.attribution import Attribution
from medwb.models import Preprocess
from medwb.viz import display_map, display_scale, display_signed, outline
from medwb.volume import apply_window
from medwb.widgets import render
from medwb.widgets.attribution_explorer import AttributionExplorer
from medwb.widgets.case_viewer import CaseViewer
from medwb.widgets.slice_viewer import render_png
from medwb.widgets.viewer3d import Viewer3D


def _volume(shape=(8, 12, 12)) -> medwb.Volume:
    hu = np.linspace(-200, 200, int(np.prod(shape))).reshape(shape).astype(np.int16)
    return medwb.Volume.from_geometry(hu, spacing=(2.0, 1.0, 1.0), modality="CT")


def _sparse_map(shape=(8, 12, 12)) -> np.ndarray:
    """Like Grad-CAM after ReLU: zero almost everywhere, a small warm region."""
    a = np.zeros(shape, np.float32)
    a[3:5, 4:7, 4:7] = np.arange(18, dtype=np.float32).reshape(2, 3, 3) + 1.0
    return a


# -- display scale ---------------------------------------------------------------------------------
def test_display_scale_is_a_percentile_of_the_non_zero_magnitudes():
    a = _sparse_map()
    assert display_scale(a) == pytest.approx(np.percentile(np.arange(1, 19), 99.5))
    assert display_scale(-a) == display_scale(a) and display_scale(np.zeros(4)) == 0.0
    b = a.copy()
    b[0, 0, 0] = np.nan
    assert display_scale(b) == display_scale(a)


def test_attribution_normalized_and_the_case_viewer_use_the_same_scale():
    vol, a = _volume(), _sparse_map()
    att = Attribution(a, vol.affine.copy(), "gradcam", 1)
    viewer = CaseViewer(vol, att)
    np.testing.assert_allclose(att.normalized(), np.clip(np.abs(a) / viewer._scale, 0, 1), rtol=1e-6)
    assert att.normalized().max() == 1.0


def test_display_map_keeps_the_sign_only_when_the_map_is_signed():
    a = np.array([-4.0, 0.0, 2.0, 4.0])
    np.testing.assert_allclose(display_map(a, percentile=100), [-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(display_map(a, signed=False, percentile=100), [1.0, 0.0, 0.5, 1.0])


# -- signed or not ---------------------------------------------------------------------------------
def test_a_negative_speck_does_not_make_a_map_signed_in_any_viewer():
    vol = _volume()
    a = _sparse_map()
    a[0, 0, 0] = -0.01 * display_scale(a)  # interpolation ripple, 1 % of the scale
    assert not display_signed(a)
    assert not CaseViewer(vol, a).signed
    layer = Viewer3D(vol, a).nv.volumes[1]
    assert layer.colormap_negative != "winter"  # before: any negative value gave a negative colormap


def test_a_really_signed_map_is_signed_in_every_viewer():
    vol = _volume()
    a = _sparse_map()
    a[0, 0:3, 0:3] = -0.5 * display_scale(a)
    assert display_signed(a) and CaseViewer(vol, a).signed
    assert Viewer3D(vol, a).nv.volumes[1].colormap_negative == "winter"


def test_the_explorer_panel_draws_a_map_as_the_case_viewer_does():
    class Net:  # never run: the explorer is given its result directly
        pass

    vol, a = _volume(), _sparse_map()
    explorer = AttributionExplorer(Net(), vol, methods=("saliency",))
    explorer.results = {"saliency": Attribution(a, vol.affine.copy(), "saliency", 1)}
    explorer.slice.value = 3
    viewer = CaseViewer(vol, a, window="brain", position=(3, 5, 5))
    viewer.opacity.value, viewer.threshold.value = 0.55, 0.1
    np.testing.assert_array_equal(explorer.panel_frame("saliency"), viewer.frame("axial", 3))


# -- windowing -------------------------------------------------------------------------------------
def test_volume_preprocess_and_viewer_frames_window_alike():
    vol = _volume()
    expected = apply_window(vol.array, "brain")
    np.testing.assert_array_equal(vol.window("brain"), expected)
    np.testing.assert_array_equal(Preprocess(window="brain", spacing=None, shape=None).intensity(vol.array),
                                  expected)
    frame = render.window_uint8(vol.array, 40, 80)
    np.testing.assert_array_equal(frame, (expected * 255).astype(np.uint8))
    viewer = CaseViewer(vol, window="brain", position=(4, 6, 6))
    np.testing.assert_array_equal(viewer.frame("axial")[..., 0], frame[4])


def test_windows_are_resolved_in_one_place():
    from medwb.volume import window_center_width

    assert window_center_width("bone") == (600.0, 2800.0) and window_center_width((40, 80)) == (40.0, 80.0)
    with pytest.raises(KeyError, match="'liver'"):
        window_center_width("liver")
    with pytest.raises(ValueError, match="-5"):
        window_center_width((0, -5))
    with pytest.raises(ValueError, match="Fix"):
        apply_window(np.zeros(3), (1, 2, 3))


# -- outlines --------------------------------------------------------------------------------------
def test_a_region_at_the_image_edge_is_outlined_along_the_edge():
    m = np.zeros((6, 6), bool)
    m[:, :3] = True  # cut by the left edge
    edge = outline(m)
    assert edge[:, 0].all() and edge[:, 2].all() and not edge[2:4, 1].any()


def test_the_slice_viewer_and_the_case_viewer_outline_a_mask_alike():
    """Before: the SliceViewer's np.roll outline wrapped around the image (a region touching one edge
    was outlined there, one touching both edges was not); the CaseViewer left every region open at the
    edge. Now both outline a region cut by the edge along the edge."""
    import io

    from PIL import Image

    gray = np.zeros((6, 8), np.float32)
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, :] = 1  # a band from the left edge to the right edge
    png = np.asarray(Image.open(io.BytesIO(render_png(gray, mask))))[..., :3]
    rgba = render.draw_contours(render.gray_rgba(np.zeros((6, 8), np.uint8)), mask, render.LABEL_COLORS)
    np.testing.assert_array_equal(png, rgba[..., :3])
    assert (png[2:4, 0] == render.LABEL_COLORS[1]).all()


def test_every_viewer_stretches_a_plane_by_the_same_pixel_size():
    from medwb.viz import PLANES, plane_pixel_mm

    vol = medwb.Volume.from_geometry(np.zeros((4, 6, 8), np.int16), spacing=(2.5, 0.9, 0.8))
    viewer = CaseViewer(vol)
    for plane in PLANES:
        assert list(viewer.canvas.pixel_mm[plane]) == list(plane_pixel_mm(vol.spacing, plane))
