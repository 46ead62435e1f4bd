"""medwb.viz figures draw what they are given: the windowed plane, the overlay, the outlines, the titles."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from medwb.viz import lesion_center_index, plane_slice, show_slice, slice_figure  # noqa: E402
from medwb.volume import Volume  # noqa: E402


def _case():
    z, y, x = np.indices((8, 16, 20))
    ct = Volume.from_geometry((x * 10 - 40 + 5 * z).astype(np.int16), spacing=(3.0, 1.0, 1.0), modality="CT")
    mask = np.zeros(ct.shape, np.uint8)
    mask[3:6, 5:11, 6:13] = 2   # oedema around
    mask[4, 7:9, 8:11] = 1      # the lesion
    return ct, ct.with_array(mask)


def test_show_slice_draws_the_windowed_plane_at_millimetre_aspect_with_the_overlay_masked_at_zero():
    ct, _ = _case()
    overlay = np.zeros(ct.shape, np.float32)
    overlay[2, 4:6, 4:9] = 0.7
    fig, ax = plt.subplots()
    show_slice(ax, ct, "coronal", 5, window="bone", overlay=overlay)
    gray, ov = ax.get_images()
    np.testing.assert_allclose(gray.get_array(), plane_slice(ct.window("bone"), "coronal", 5))
    assert gray.get_cmap().name == "gray" and gray.get_clim() == (0, 1)
    cut = ov.get_array()
    assert np.ma.is_masked(cut) and int((~cut.mask).sum()) == 5 and float(cut.max()) == pytest.approx(0.7)
    np.testing.assert_array_equal(~cut.mask, plane_slice(overlay, "coronal", 5) > 0)
    assert ax.get_aspect() == pytest.approx(3.0)  # 3 mm slices against 1 mm columns
    assert ax.get_title() == "coronal 5" and not ax.axison
    plt.close(fig)


def test_show_slice_opens_on_the_lesion_and_outlines_lesion_and_oedema_in_their_colours():
    ct, mask = _case()
    fig, ax = plt.subplots()
    show_slice(ax, ct, "axial", mask=mask, title="case 1")
    (gray,) = ax.get_images()
    assert ax.get_title() == "case 1"
    np.testing.assert_allclose(gray.get_array(), ct.window("brain")[4])  # the lesion's centre slice
    colours = {tuple(np.round(c.get_edgecolor()[0][:3], 3)) for c in ax.collections}
    assert colours == {tuple(np.round(matplotlib.colors.to_rgb(h), 3)) for h in ("#ffd60a", "#ff3b30")}
    plt.close(fig)


def test_show_slice_refuses_maps_on_another_grid():
    ct, _ = _case()
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"overlay shape \(2, 2, 2\) differs"):
        show_slice(ax, ct, overlay=np.zeros((2, 2, 2)))
    plt.close(fig)


def test_slice_figure_is_planes_by_windows_through_one_point_and_leaves_pyplot_clean():
    ct, mask = _case()
    n_open = len(plt.get_fignums())
    fig = slice_figure(ct, windows=("brain", "bone"), mask=mask)
    assert len(plt.get_fignums()) == n_open  # closed in pyplot, returned for display
    titles = [ax.get_title() for ax in fig.axes]
    point = lesion_center_index(mask)
    assert titles == [f"{p} {i} · {w}" for w in ("brain", "bone")
                      for p, i in zip(("axial", "coronal", "sagittal"), point, strict=True)]
    bone_sagittal = fig.axes[5].get_images()[0].get_array()
    np.testing.assert_allclose(bone_sagittal, plane_slice(ct.window("bone"), "sagittal", point[2]))
    custom = slice_figure(ct, planes=("axial",), index=(1, 2, 3))
    assert [ax.get_title() for ax in custom.axes] == ["axial 1 · brain"]
