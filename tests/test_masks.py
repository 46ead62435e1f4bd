"""medwb.masks.mask_on_grid is the one rule that puts a mask on another grid (volume fraction > 0.5),
and the attribution metrics, the attribution features and explain's region targets all use it."""

from __future__ import annotations

import numpy as np
import pytest

from medwb import transforms
from medwb.masks import lesions_from_mask, mask_on_grid
from medwb.volume import Volume


def _ball(shape=(24, 24, 24), spacing=1.0, radius=5.0, centre=(11.3, 12.1, 10.7)) -> Volume:
    g = np.ogrid[tuple(slice(0, n) for n in shape)]
    inside = sum((gi - c) ** 2 for gi, c in zip(g, centre, strict=True)) <= radius**2
    return Volume.from_geometry(inside.astype(np.uint8), spacing=spacing)


def _coarse(fine: Volume, factor: int) -> Volume:
    """A grid of factor x factor x factor blocks of ``fine``'s voxels (exactly aligned)."""
    shape = tuple(n // factor for n in fine.shape)
    origin = fine.index_to_world([(factor - 1) / 2.0] * 3)
    return Volume.from_geometry(np.zeros(shape, np.float32), spacing=np.asarray(fine.spacing) * factor,
                                origin=origin, direction=fine.direction)


def _block_fraction(arr: np.ndarray, f: int) -> np.ndarray:
    s = tuple(n // f for n in arr.shape)
    return arr[: s[0] * f, : s[1] * f, : s[2] * f].reshape(s[0], f, s[1], f, s[2], f).mean(axis=(1, 3, 5))


def test_on_a_coarser_grid_a_voxel_is_in_when_more_than_half_of_it_is():
    fine = _ball()
    coarse = _coarse(fine, 3)
    got = mask_on_grid(fine, coarse).array
    expected = (_block_fraction(fine.array.astype(float), 3) > 0.5).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)
    # nearest neighbour (one point per coarse voxel) is not that rule: it disagrees on this ball
    nearest = transforms.resample_like(fine, coarse, order=0, fill=0).array
    assert (nearest != expected).any()


@pytest.mark.parametrize("centre", [(19.4, 20.2, 18.8), (18.1, 20.7, 19.9), (19.5, 19.5, 19.5)])
def test_the_rule_misplaces_the_least_volume_of_any_coarse_mask(centre):
    """Fraction > 0.5 is the coarse mask whose symmetric difference with the fine one is smallest;
    nearest neighbour, one sample per coarse voxel, misplaces at least as much."""
    fine = _ball(shape=(40, 40, 40), radius=6.0, centre=centre)
    coarse = _coarse(fine, 4)

    def misplaced(m: np.ndarray) -> int:
        up = m.repeat(4, 0).repeat(4, 1).repeat(4, 2).astype(bool)
        return int((up != fine.array.astype(bool)).sum())

    ours = misplaced(mask_on_grid(fine, coarse).array)
    nearest = misplaced(transforms.resample_like(fine, coarse, order=0, fill=0).array)
    assert ours <= nearest
    assert ours < misplaced(np.zeros(coarse.shape)) and ours < misplaced(np.ones(coarse.shape))


def test_on_the_same_grid_the_mask_is_taken_as_it_is():
    fine = _ball()
    fine.array[0, 0, 0] = 2
    out = mask_on_grid(fine, fine.with_array(np.zeros(fine.shape)))
    np.testing.assert_array_equal(out.array, fine.array)
    assert out.array is not fine.array  # a copy: editing it does not edit the caller's mask


def test_on_a_finer_grid_it_is_nearest_neighbour():
    coarse = _ball(shape=(8, 8, 8), spacing=3.0, radius=2.0, centre=(3.5, 3.5, 3.5))
    fine = Volume.from_geometry(np.zeros((24, 24, 24)), spacing=1.0, origin=coarse.index_to_world([-1 / 3] * 3))
    np.testing.assert_array_equal(mask_on_grid(coarse, fine).array,
                                  transforms.resample_like(coarse, fine, order=0, fill=0).array)


def test_labels_keep_their_values_and_one_can_be_selected():
    fine = _ball()
    fine.array[fine.array == 0] = 0
    fine.array[:, :, :4] = 2  # a slab of "oedema"
    coarse = _coarse(fine, 2)
    out = mask_on_grid(fine, coarse)
    assert set(np.unique(out.array)) == {0, 1, 2} and out.array.dtype == np.uint8
    lesion = mask_on_grid(fine, coarse, label=1).array
    np.testing.assert_array_equal(lesion, (_block_fraction((fine.array == 1).astype(float), 2) > 0.5))


def test_a_rotated_reference_grid_is_handled():
    fine = _ball(radius=6.0)
    rot = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # the default axial direction...
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rot = rot @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])  # ...turned 30 degrees in-plane
    ref = Volume.from_geometry(np.zeros((12, 16, 16)), spacing=2.0, origin=fine.center_world() - 15.0,
                               direction=rot)
    out = mask_on_grid(fine, ref).array
    # its volume matches the ball's (within the partial-volume error of 8 mm^3 voxels)
    true_mm3 = int(fine.array.sum())
    assert abs(int(out.sum()) * 8 - true_mm3) < 0.2 * true_mm3


def test_an_array_mask_must_already_be_on_the_grid():
    ref = Volume.from_geometry(np.zeros((4, 4, 4)))
    assert mask_on_grid(np.ones((4, 4, 4), np.uint8), ref).array.all()
    with pytest.raises(ValueError, match="Fix: pass the mask as a Volume"):
        mask_on_grid(np.ones((2, 2, 2)), ref)


def test_localisation_and_the_attribution_features_agree_on_a_mask_from_another_grid():
    """Before: localisation resampled by nearest neighbour, the features refused the mask. Now both
    put it on the attribution's grid by mask_on_grid and find the same mass in it."""
    from medwb.attribution import Attribution, localisation
    from medwb.features import attribution_features

    fine = _ball(shape=(24, 24, 24), radius=5.0)
    image = _coarse(fine, 3)  # the image (and its attribution) on a 3 mm grid, the mask on 1 mm
    rng = np.random.default_rng(1)
    amap = rng.random(image.shape).astype(np.float32)
    attr = Attribution(amap, image.affine.copy(), "saliency", 1)
    loc = localisation(attr, fine)["mass_in_mask"]
    feat = attribution_features(image, attr, mask=fine)["attr_mass_in_mask"]
    on_grid = mask_on_grid(fine, image).array != 0
    assert loc == pytest.approx(feat, rel=1e-6)  # float32 (metrics) and float64 (features) sums
    assert loc == pytest.approx(amap[on_grid].sum() / amap.sum(), rel=1e-6)


def test_a_region_target_covers_the_voxels_mask_on_grid_gives():
    import torch
    from torch import nn

    from medwb.attribution import Region, explain

    class Seg(nn.Module):  # a voxel-wise "segmentation" model: channel 1 = the input itself
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([-x, x], dim=1)

    fine = _ball(shape=(24, 24, 24), radius=5.0)
    image = _coarse(fine, 3).with_array(np.ones((8, 8, 8), np.float32))
    a = explain(Seg().eval(), image, method="saliency", target=Region(fine, channel=1))
    # d(sum of x over the region)/dx is 1 inside the region and 0 outside: the map is the region
    np.testing.assert_array_equal(a.array != 0, mask_on_grid(fine, image).array != 0)


def test_lesions_from_mask_reads_a_volume_with_its_spacing():
    m = np.zeros((6, 8, 8), np.uint8)
    m[1:3, 1:3, 1:3] = 1
    m[1:3, 3:5, 1:3] = 2  # oedema touching the lesion
    m[4:6, 6:8, 6:8] = 1
    table = lesions_from_mask(Volume.from_geometry(m, spacing=(2.0, 1.0, 1.0)))
    assert sorted(table["volume_ml"]) == pytest.approx([0.016, 0.016])
    assert sorted(table["oedema_ml"]) == pytest.approx([0.0, 0.016])
    with pytest.raises(ValueError, match="spacing"):
        lesions_from_mask(m)
