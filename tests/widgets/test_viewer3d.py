"""Viewer3D: NIfTI bytes for NiiVue, overlay controls, and the itkwidgets backend never hanging."""

from __future__ import annotations

import base64
import gzip
import io
import sys
import types

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

import medwb
from medwb.io.nifti import volume_to_nifti
from medwb.widgets import Viewer3D
from medwb.widgets.viewer3d import nifti_bytes


def _case(shape=(10, 12, 14)):
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    vol = medwb.Volume.from_geometry((x * 10 - 50).astype(np.int16), spacing=(2.5, 1.0, 0.8),
                                     origin=(5, -3, 7), modality="CT")
    attr = np.sin(x / 3.0).astype(np.float32) * 0.02
    mask = (x > 8).astype(np.uint8)
    return vol, attr, mask


def test_nifti_bytes_keep_geometry_and_values_within_quantisation():
    vol, attr, _ = _case()
    img = nib.Nifti1Image.from_bytes(gzip.decompress(nifti_bytes(vol.with_array(attr), quantize=True)))
    assert img.get_data_dtype() == np.int16
    assert np.allclose(img.affine, volume_to_nifti(vol).affine)
    back = img.get_fdata()  # applies scl_slope, as NiiVue does
    assert np.abs(back - attr.transpose(2, 1, 0)).max() <= 0.02 / 32767 + 1e-9


def test_niivue_gets_image_signed_overlay_and_mask_layers():
    vol, attr, mask = _case()
    v = Viewer3D(vol, attr, mask=mask, window=(40, 400))
    image, overlay, labels = v.nv.volumes
    assert (image.cal_min, image.cal_max) == (-160, 240) and image.colormap == "gray"
    assert overlay.colormap_negative == "winter" and overlay.cal_max_neg < 0
    assert labels.colormap == "red" and v.stride == 1


def test_overlay_controls_drive_the_niivue_layer():
    vol, attr, _ = _case()
    v = Viewer3D(vol, attr)
    v.threshold.value = 0.5
    v.opacity.value = 0.2
    v.cmap.value = "hot"
    layer = v.nv.volumes[1]
    assert layer.cal_min == pytest.approx(0.5 * v.scale) and layer.opacity == 0.2 and layer.colormap == "hot"
    assert layer.cal_max_neg == pytest.approx(-0.5 * v.scale)


def test_large_volumes_are_subsampled_and_say_so():
    vol, attr, _ = _case((40, 40, 40))
    v = Viewer3D(vol, attr, max_voxels=20**3)
    assert v.stride == 2 and "subsampled by 2" in v.notice.value
    img = nib.Nifti1Image.from_bytes(gzip.decompress(v.nv.volumes[0].data))
    assert img.shape == (20, 20, 20) and np.allclose(img.header.get_zooms(), (1.6, 2.0, 5.0))


def test_itk_backend_without_itkwidgets_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "itkwidgets", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'medwb\[itk-viewer\]'"):
        Viewer3D(_case()[0], backend="itk")


def test_itk_backend_offline_says_assets_cannot_load_and_never_calls_the_viewer(monkeypatch):
    fake = types.ModuleType("itkwidgets")
    fake.view = lambda **kw: (_ for _ in ()).throw(AssertionError("itkwidgets.view must not run offline"))
    config = types.ModuleType("itkwidgets.viewer_config")
    config.ITK_VIEWER_SRC = "https://127.0.0.1:9/itk-viewer/"  # the discard port: nothing listens
    monkeypatch.setitem(sys.modules, "itkwidgets", fake)
    monkeypatch.setitem(sys.modules, "itkwidgets.viewer_config", config)
    v = Viewer3D(_case()[0], backend="itk", reach_timeout=1.0)
    assert v.backend == "niivue" and "cannot load its viewer" in v.notice.value
    assert "127.0.0.1:9" in v.notice.value and v.nv is not None


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="'niivue' or 'itk'"):
        Viewer3D(_case()[0], backend="vtk")


def test_static_fallback_is_a_png():
    vol, attr, mask = _case()
    bundle = Viewer3D(vol, attr, mask=mask)._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"


def _fallback_rgb(viewer):
    bundle = viewer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).convert("RGB"))


def test_static_fallback_shows_the_three_planes_with_the_map_and_the_truth_only_in_teaching_mode():
    from medwb.widgets.static import ortho_png

    vol, attr, mask = _case()
    red = lambda rgb: int((rgb == [255, 59, 48]).all(axis=2).sum())  # noqa: E731  (the truth's outline)
    coloured = lambda rgb: int((np.ptp(rgb.astype(int), axis=2) > 30).sum())  # noqa: E731  (not gray)
    hidden = _fallback_rgb(Viewer3D(vol, attr, mask=mask, teaching=False))
    shown = _fallback_rgb(Viewer3D(vol, attr, mask=mask, teaching=True))
    plain = _fallback_rgb(Viewer3D(vol))
    assert hidden.shape == shown.shape and hidden.shape[1] > hidden.shape[0]  # three planes side by side
    assert red(hidden) == 0 and red(shown) > 10
    assert coloured(plain) == 0 and coloured(hidden) > 100  # the attribution overlay is drawn
    want = np.asarray(Image.open(io.BytesIO(ortho_png(vol, attr, mask=mask))).convert("RGB"))
    assert np.array_equal(shown, want)
