"""SliceViewer (Python side): frames change with the controls, fallback is a static image."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

import medwb
from medwb.widgets import SliceViewer


def _volume():
    z, y, x = np.mgrid[:10, :20, :24]
    arr = (np.sin(x / 3.0) * 200 + z * 30).astype(np.int16)
    return medwb.Volume.from_geometry(arr, spacing=(3.0, 1.0, 1.0), modality="CT")


def _gray(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_moving_the_slider_changes_the_pixels():
    v = _volume()
    viewer = SliceViewer(v, window="soft_tissue")
    before = viewer.image.value
    viewer.slider.value = (viewer.slider.value + 3) % (viewer.slider.max + 1)
    assert viewer.image.value != before


def test_each_frame_is_the_windowed_slice_the_slider_names():
    v = _volume()
    viewer = SliceViewer(v, window="soft_tissue", zoom=1.0)  # axial, 1 x 1 mm pixels: one pixel a voxel
    for k in (0, 7, 9):
        viewer.slider.value = k
        want = (np.clip(v.window("soft_tissue")[k], 0, 1) * 255).astype(np.uint8)
        rgb = _gray(viewer.image.value)
        assert rgb.shape == (20, 24, 3)
        assert np.array_equal(rgb[..., 0], want) and np.array_equal(rgb[..., 2], want)  # gray, no overlay
        assert f"axial {k}/9" in viewer.readout.value
    viewer.window.value = "bone"
    assert np.array_equal(_gray(viewer.image.value)[..., 1],
                          (np.clip(v.window("bone")[9], 0, 1) * 255).astype(np.uint8))
    viewer.plane.value = "sagittal"  # 10 slices of 3 mm by 20 rows of 1 mm, from the volume's centre
    assert viewer.slider.max == 23 and viewer.slider.value == 12
    assert _gray(viewer.image.value).shape == (30, 20, 3)


def test_frames_keep_millimetre_aspect():
    viewer = SliceViewer(_volume(), plane="coronal", zoom=1.0)
    img = Image.open(io.BytesIO(viewer.image.value))
    # coronal: 10 slices of 3 mm by 24 columns of 1 mm -> 30 x 24 pixels
    assert img.size == (24, 30)


def test_mask_outline_is_drawn_in_colour():
    v = _volume()
    mask = np.zeros(v.shape, np.uint8)
    mask[5, 5:15, 5:15] = 1
    viewer = SliceViewer(v, mask=v.with_array(mask), zoom=1.0)
    assert viewer.slider.value == 5  # opens on the lesion
    rgb = np.asarray(Image.open(io.BytesIO(viewer.image.value)).convert("RGB"))
    assert (rgb == [255, 59, 48]).all(axis=2).sum() > 20


def test_static_fallback_is_a_png_for_non_widget_front_ends():
    import base64

    viewer = SliceViewer(_volume())
    viewer.slider.value = 2
    bundle = viewer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "image/png" in data and len(data["image/png"]) > 100
    # the fallback shows exactly what the widget shows now (the current slice, window and zoom)
    assert np.array_equal(_gray(base64.b64decode(data["image/png"])), _gray(viewer.image.value))
    assert data["text/plain"].startswith("SliceViewer(")
