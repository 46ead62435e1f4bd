"""medwb.transforms: every output grid checked against SimpleITK, which is the geometry oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from medwb.convert import from_sitk, to_sitk
from medwb.transforms import (
    bounding_box,
    crop,
    crop_or_pad,
    orientation_of,
    reorient,
    resample,
    resample_like,
    resample_to_grid,
)
from medwb.volume import GeometryError, Volume

AXIAL = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])  # slice +z, row +y, column +x


def oblique(deg=(12.0, -20.0, 7.0)) -> np.ndarray:
    return Rotation.from_euler("xyz", deg, degrees=True).as_matrix() @ AXIAL


def ct(shape=(12, 20, 18), spacing=(2.5, 0.9, 0.8), direction=None, seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = np.clip(rng.normal(40, 300, size=shape), -1000, 3000).astype(np.float32)
    arr[0, 0, 0] = -1024.0  # the minimum: the default fill
    return Volume.from_geometry(arr, spacing, origin=(-30.0, 12.5, 101.0),
                                direction=AXIAL if direction is None else direction, modality="CT")


def sitk_resample(v: Volume, grid: Volume, interpolator, fill: float) -> np.ndarray:
    out = sitk.Resample(to_sitk(v), to_sitk(grid), sitk.Transform(), interpolator, fill,
                        sitk.GetImageFromArray(np.zeros((1, 1, 1), v.array.dtype)).GetPixelID())
    return sitk.GetArrayFromImage(out)


def presmoothed(v: Volume, grid: Volume) -> Volume:
    """``v`` smoothed as resample_to_grid smooths it before sampling onto ``grid``.

    SimpleITK has no filter with the same kernel (its DiscreteGaussian is the Bessel-function
    discrete Gaussian, SmoothingRecursiveGaussian an IIR approximation: both differ from a sampled
    Gaussian by up to 5% of a voxel value at sigma < 1), so the geometry tests below give SimpleITK
    the same smoothed voxels and check the sampling; the amount of smoothing is checked against
    scikit-image's resize(anti_aliasing=True) on its own.
    """
    from scipy import ndimage

    step = np.linalg.norm((np.linalg.inv(v.affine) @ grid.affine)[:3, :3], axis=1)  # source voxels
    sigma = np.maximum(0.0, (step - 1.0) / 2.0)  # scikit-image's rule
    return v.with_array(ndimage.gaussian_filter(v.array, sigma, mode="nearest"))


# -- resample -------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", [AXIAL, oblique()], ids=["axial", "oblique"])
def test_resample_matches_simpleitk_linear_on_the_same_grid(direction):
    v = ct(direction=direction)
    r = resample(v, (1.25, 1.5, 0.5))  # finer slices and columns, coarser rows (0.9 -> 1.5 mm)
    assert r.spacing == pytest.approx((1.25, 1.5, 0.5), abs=1e-12)
    np.testing.assert_allclose(r.direction, v.direction, atol=1e-12)
    expected = sitk_resample(presmoothed(v, r), r, sitk.sitkLinear, -1024.0)
    np.testing.assert_allclose(r.array, expected, rtol=1e-5, atol=1e-3)
    raw = resample(v, (1.25, 1.5, 0.5), antialias=False)  # no smoothing: SimpleITK's plain Resample
    np.testing.assert_allclose(raw.array, sitk_resample(v, r, sitk.sitkLinear, -1024.0), rtol=1e-5, atol=1e-3)


def stripes(shape=(4, 8, 63), spacing=1.0, phase=0) -> Volume:
    """Columns alternating 0 and 1: a pattern with a period of 2 voxels, the finest a grid can hold."""
    col = ((np.arange(shape[2]) + phase) % 2).astype(np.float32)
    return Volume.from_geometry(np.broadcast_to(col, shape).copy(), spacing)


@pytest.mark.parametrize("phase", [0, 1])
def test_downsampling_fine_stripes_by_4_gives_their_mean_whatever_their_phase(phase):
    v = stripes(shape=(4, 8, 65), phase=phase)
    r = resample(v, (None, None, 4.0))
    assert r.shape == (4, 8, 16)
    # near-uniform, at the stripes' mean (the first and last columns also see the edge, repeated outward)
    np.testing.assert_allclose(r.array[..., 1:-1], 0.5, atol=0.01)
    aliased = resample(v, (None, None, 4.0), antialias=False)  # every 4th column: all 0s or all 1s
    assert abs(float(aliased.array.mean()) - 0.5) == pytest.approx(0.5)


def test_downsampling_fine_stripes_by_3_gives_no_moire():
    v = stripes(shape=(4, 8, 63))
    aliased = resample(v, (None, None, 3.0), antialias=False)
    assert np.ptp(aliased.array[0, 0]) == pytest.approx(1.0)  # stripes of period 6 mm that are not there
    r = resample(v, (None, None, 3.0)).array[..., 1:-1]
    np.testing.assert_allclose(r, 0.5, atol=0.01)


def test_downsampling_onto_a_rotated_coarser_grid_also_smooths():
    v = stripes(shape=(40, 60, 60))
    rotated = oblique((0, 0, 30))  # turned 30 degrees in the axial plane
    ref = Volume.from_geometry(np.zeros((4, 6, 6)), 4.0, direction=rotated,
                               origin=v.center_world() - rotated @ np.full(3, 10.0))
    assert (v.world_to_index(ref.index_to_world(np.indices(ref.shape).reshape(3, -1).T)) > 8).all()
    r = resample_like(v, ref)  # every sample far from the edges
    np.testing.assert_allclose(r.array, 0.5, atol=0.01)
    assert np.ptp(resample_like(v, ref, antialias=False).array) > 0.3


def test_downsampling_equals_scikit_image_resize_with_anti_aliasing():
    from skimage.transform import resize

    arr = np.random.default_rng(5).normal(size=(12, 20, 16))
    v = Volume.from_geometry(arr, 1.0)
    r = resample(v, (2.0, 4.0, 1.0))  # output size divides the input: the two grids coincide
    expected = resize(arr, r.shape, order=1, mode="edge", anti_aliasing=True, preserve_range=True)
    assert r.shape == (6, 5, 16)
    np.testing.assert_allclose(r.array, expected, atol=1e-10)


def test_upsampling_and_same_spacing_are_never_smoothed():
    v = ct()
    finer = resample(v, (1.0, 0.5, 0.4))
    np.testing.assert_array_equal(finer.array, resample(v, (1.0, 0.5, 0.4), antialias=False).array)
    same = resample(v, v.spacing)
    np.testing.assert_allclose(same.array, v.array, atol=1e-3)


def test_masks_are_never_smoothed_when_downsampled():
    m = stripes(shape=(4, 8, 65)).with_array(stripes(shape=(4, 8, 65)).array.astype(np.uint8))
    r = resample(m, (None, None, 4.0), order=0)
    assert r.array.dtype == np.uint8 and set(np.unique(r.array)) <= {0, 1}
    np.testing.assert_array_equal(r.array, resample(m, (None, None, 4.0), order=0, antialias=False).array)


def test_preprocess_smooths_before_it_downsamples():
    from medwb.models.data import Preprocess

    hu = stripes(shape=(16, 64, 65)).array * 80.0  # 0 and 80 HU: the brain window maps them to 0 and 1
    v = Volume.from_geometry(hu.astype(np.int16), 1.0)
    x = Preprocess(window="brain", spacing=4.0, shape=None)(v)
    assert x.shape == (4, 16, 16)
    np.testing.assert_allclose(x.array[..., 1:-1], 0.5, atol=0.01)


def test_resampling_a_read_only_volume_leaves_it_untouched():
    v = ct()
    v.array.setflags(write=False)
    before = v.array.copy()
    resample(v, 2.0)
    resample(v, 0.5, order=0)
    np.testing.assert_array_equal(v.array, before)


def test_resample_keeps_centre_and_physical_extent():
    v = ct(shape=(10, 20, 30), spacing=(3.0, 1.0, 0.5), direction=oblique())
    r = resample(v, (1.5, 2.0, 1.5))
    assert r.shape == (20, 10, 10)
    np.testing.assert_allclose(r.center_world(), v.center_world(), atol=1e-9)
    # the corner of the voxel box (half a voxel before voxel 0) is the same point in space
    np.testing.assert_allclose(r.index_to_world([-0.5] * 3), v.index_to_world([-0.5] * 3), atol=1e-9)
    hi_r = r.index_to_world(np.asarray(r.shape) - 0.5)
    np.testing.assert_allclose(hi_r, v.index_to_world(np.asarray(v.shape) - 0.5), atol=1e-9)


def test_resample_keeps_a_blob_at_its_world_position():
    shape, sp = (30, 40, 40), (2.0, 1.0, 1.0)
    v = Volume.from_geometry(np.zeros(shape, np.float32), sp, origin=(5, -7, 30), direction=oblique())
    centre = np.array([14.3, 21.7, 18.2])
    idx = np.indices(shape).transpose(1, 2, 3, 0)
    world_d = v.index_to_world(idx) - v.index_to_world(centre)
    v = v.with_array(np.exp(-(world_d**2).sum(-1) / (2 * 4.0**2)).astype(np.float32))
    r = resample(v, 1.3, fill=0.0)

    def centroid(vol):
        w = vol.array.astype(np.float64)
        return (vol.index_to_world(np.indices(vol.shape).transpose(1, 2, 3, 0)) * w[..., None]).sum(
            (0, 1, 2)) / w.sum()

    np.testing.assert_allclose(centroid(r), v.index_to_world(centre), atol=0.05)


def test_resample_leaves_an_unchanged_axis_voxel_exact():
    v = ct(shape=(6, 10, 12), spacing=(4.0, 1.0, 1.0))
    r = resample(v, (2.0, None, None))
    assert r.shape == (12, 10, 12)
    np.testing.assert_array_equal(r.array[0], v.array[0])  # index -0.25: the edge slice itself
    # rows and columns are not interpolated: output slice 1 (input index 0.25) is an exact blend
    np.testing.assert_allclose(r.array[1], 0.75 * v.array[0] + 0.25 * v.array[1], rtol=1e-5, atol=1e-3)


def test_upsampled_edge_voxels_take_the_edge_value_not_the_fill():
    v = Volume.from_geometry(np.full((4, 4, 4), 100, np.int16), spacing=2.0)
    r = resample(v, 1.0, fill=-1024)
    assert r.shape == (8, 8, 8)
    assert (r.array == 100).all()  # output voxel 0 sits at input index -0.25: inside the voxel box


def test_points_outside_the_source_take_the_volume_minimum_by_default():
    v = ct(shape=(6, 8, 8), spacing=(2.0, 1.0, 1.0))
    ref = crop_or_pad(v, (10, 12, 12), fill=0)  # a grid larger than the source
    r = resample_like(v, ref)
    assert r.array[0].max() == pytest.approx(-1024.0)
    np.testing.assert_allclose(r.array[2:8, 2:10, 2:10], v.array, atol=1e-4)
    np.testing.assert_allclose(r.array, sitk_resample(v, ref, sitk.sitkLinear, -1024.0), atol=1e-3)


@pytest.mark.parametrize("direction", [AXIAL, oblique((30, 10, -45))], ids=["axial", "oblique"])
def test_resample_like_onto_a_rotated_flipped_grid_matches_simpleitk(direction):
    v = ct(direction=direction)
    flipped = oblique((-15, 25, 160)) @ np.diag([1.0, -1.0, 1.0])  # rotated, and one axis flipped
    ref = Volume.from_geometry(np.zeros((14, 15, 16), np.int16), (1.7, 1.1, 1.3),
                               origin=v.center_world() - 9.0, direction=flipped)
    r = resample_like(v, ref)  # 0.9 and 0.8 mm rows and columns onto 1.1 and 1.3 mm: smoothed first
    assert r.same_grid(ref, atol=1e-12)
    assert r.array.dtype == np.float32
    expected = sitk_resample(presmoothed(v, ref), ref, sitk.sitkLinear, -1024.0)
    np.testing.assert_allclose(r.array, expected, rtol=1e-5, atol=1e-3)
    raw = resample_like(v, ref, antialias=False)
    np.testing.assert_allclose(raw.array, sitk_resample(v, ref, sitk.sitkLinear, -1024.0), rtol=1e-5, atol=1e-3)


def test_mask_resampling_is_nearest_and_keeps_dtype_like_simpleitk():
    rng = np.random.default_rng(3)
    mask = Volume.from_geometry(rng.integers(0, 3, (10, 12, 14)).astype(np.uint8), (2.0, 1.0, 1.0),
                                direction=oblique())
    ref = Volume.from_geometry(np.zeros((9, 11, 13)), (1.9, 1.3, 0.7), origin=mask.center_world() - 5,
                               direction=oblique((5, 5, 5)))
    m = resample_like(mask, ref, order=0)
    assert m.array.dtype == np.uint8
    assert set(np.unique(m.array)) <= {0, 1, 2}
    expected = sitk_resample(mask, ref, sitk.sitkNearestNeighbor, 0)
    assert (m.array == expected).mean() > 0.999  # exact but for round-half ties


def test_bool_masks_stay_bool():
    m = Volume.from_geometry(np.zeros((4, 4, 4), bool), 2.0)
    m.array[1:3, 1:3, 1:3] = True
    r = resample(m, 1.0, order=0)
    assert r.array.dtype == bool and r.array.sum() == 8 * 8


def test_integer_dtype_request_rounds_and_clips():
    v = Volume.from_geometry(np.array([[[0.0, 1000.0]]]))
    r = resample_to_grid(v, (1, 1, 2), v.affine, dtype=np.uint8)
    assert r.array.dtype == np.uint8 and r.array.tolist() == [[[0, 255]]]


def test_bad_resample_arguments_name_the_value():
    v = ct()
    with pytest.raises(ValueError, match="order must be 0 .* got 7"):
        resample(v, 1.0, order=7)
    with pytest.raises(GeometryError, match=r"-1\.0"):
        resample(v, (1.0, -1.0, 1.0))
    with pytest.raises(GeometryError, match="one number or three"):
        resample(v, (1.0, 1.0))


# -- crop / pad / bounding box ---------------------------------------------------------------------
def test_crop_affine_matches_simpleitk_region_of_interest():
    v = ct(direction=oblique())
    start, stop = (2, 3, 4), (9, 17, 11)
    c = crop(v, start, stop)
    size_xyz = [int(b - a) for a, b in zip(start[::-1], stop[::-1], strict=True)]
    roi = sitk.RegionOfInterest(to_sitk(v), size_xyz, list(start[::-1]))
    assert c.same_grid(from_sitk(roi), atol=1e-9)
    np.testing.assert_array_equal(c.array, sitk.GetArrayFromImage(roi))


def test_crop_outside_the_volume_says_how_to_pad():
    with pytest.raises(GeometryError, match=r"(?s)stop=\[5, 30, 5\].*crop_or_pad"):
        crop(ct(), (0, 0, 0), (5, 30, 5))


def test_crop_or_pad_pads_with_fill_and_keeps_world_positions():
    v = ct(shape=(6, 8, 10), direction=oblique())
    p = crop_or_pad(v, (10, 6, 14), fill=-2000)
    assert p.shape == (10, 6, 14)
    assert p.array[0].max() == -2000 and p.array[-1].max() == -2000
    # every copied voxel sits at the same world position as in the source
    for idx in [(2, 0, 2), (5, 3, 7), (7, 5, 11)]:
        src = np.rint(v.world_to_index(p.index_to_world(idx))).astype(int)
        assert p.array[idx] == v.array[tuple(src)]
    np.testing.assert_allclose(p.center_world(), v.center_world(), atol=1.0)


def test_crop_or_pad_centres_a_world_point():
    v = ct(shape=(20, 30, 30), direction=oblique())
    point = v.index_to_world([13, 7, 21])
    p = crop_or_pad(v, (5, 5, 5), center_world=point)
    np.testing.assert_allclose(p.index_to_world([2, 2, 2]), point, atol=1e-9)
    assert p.array[2, 2, 2] == v.array[13, 7, 21]
    with pytest.raises(ValueError, match="not both"):
        crop_or_pad(v, (5, 5, 5), center=(1, 1, 1), center_world=point)


def test_crop_or_pad_default_fill_is_the_minimum():
    v = ct(shape=(4, 4, 4))
    assert crop_or_pad(v, (6, 6, 6)).array[0, 0, 0] == pytest.approx(-1024.0)


def test_bounding_box_with_margin_is_clipped_and_empty_is_none():
    m = np.zeros((10, 10, 10), np.uint8)
    m[0:2, 4:6, 8:10] = 1
    assert bounding_box(m) == ((0, 4, 8), (2, 6, 10))
    assert bounding_box(m, margin=2) == ((0, 2, 6), (4, 8, 10))
    assert bounding_box(np.zeros((3, 3, 3))) is None
    v = Volume.from_geometry(m)
    assert crop(v, *bounding_box(v)).array.all()


# -- reorient --------------------------------------------------------------------------------------
def all_axis_directions():
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            yield np.eye(3)[:, perm] * np.asarray(signs)[None, :]


def test_reorient_matches_simpleitk_dicomorient_for_all_48_axis_orders_and_flips():
    arr = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    for direction in all_axis_directions():
        v = Volume.from_geometry(arr, (1.0, 2.0, 3.0), origin=(4, -5, 6), direction=direction)
        r = reorient(v)
        expected = from_sitk(sitk.DICOMOrient(to_sitk(v), "LPS"))
        assert orientation_of(r) == "SPL"
        assert r.same_grid(expected, atol=1e-9), direction
        np.testing.assert_array_equal(r.array, expected.array)


def test_reorient_oblique_goes_to_the_closest_axes_like_simpleitk():
    arr = np.random.default_rng(1).integers(0, 1000, (5, 6, 7)).astype(np.int16)
    d = oblique((20, -15, 170)) @ np.diag([1.0, 1.0, -1.0])
    v = Volume.from_geometry(arr, (2.0, 1.0, 0.5), origin=(1, 2, 3), direction=d)
    r = reorient(v)
    expected = from_sitk(sitk.DICOMOrient(to_sitk(v), "LPS"))
    assert r.same_grid(expected, atol=1e-9)
    np.testing.assert_array_equal(r.array, expected.array)
    assert r.is_oblique  # no interpolation: still the same oblique voxels


@pytest.mark.parametrize("name,code", [("coronal", "PIL"), ("sagittal", "LIP"), ("SAR", "SAR")])
def test_reorient_to_other_orientations_matches_simpleitk(name, code):
    arr = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    v = Volume.from_geometry(arr, (1.0, 2.0, 3.0), direction=np.diag([-1.0, 1.0, -1.0])[:, [1, 0, 2]])
    r = reorient(v, name)
    expected = from_sitk(sitk.DICOMOrient(to_sitk(v), code[::-1]))  # SimpleITK names x, y, z
    assert orientation_of(r) == code
    assert r.same_grid(expected, atol=1e-9)
    np.testing.assert_array_equal(r.array, expected.array)


def test_reorient_keeps_every_voxel_at_its_world_position():
    arr = np.random.default_rng(2).normal(size=(4, 5, 6))
    v = Volume.from_geometry(arr, (1.0, 2.0, 3.0), direction=np.eye(3)[:, [1, 2, 0]] * [1, -1, -1])
    r = reorient(v)
    idx = np.indices(v.shape).reshape(3, -1).T
    r_idx = np.rint(r.world_to_index(v.index_to_world(idx))).astype(int)
    np.testing.assert_array_equal(r.array[tuple(r_idx.T)], v.array[tuple(idx.T)])


def test_unknown_orientation_lists_the_choices():
    with pytest.raises(ValueError, match="'XYZ'.*LPS-axial.*SPL"):
        reorient(ct(), "XYZ")
