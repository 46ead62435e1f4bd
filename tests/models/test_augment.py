"""Augment does what its docstring says, part by part: flips, in-plane rotation, gain/offset, noise; it is
seeded by torch's RNG, keeps shape, dtype and labels, and never touches the cached (un-augmented) tensor."""

import numpy as np
import pytest
import torch

from medwb.models import Augment, Preprocess, VolumeDataset
from medwb.volume import Volume

OFF = {"flip_axes": (), "rotate_degrees": 0.0, "scale": 0.0, "shift": 0.0, "noise_std": 0.0}


def _image(d=6, h=24, w=24):
    """A smooth, asymmetric (1, D, H, W) test image: slice k has level k/10 plus a bar off the centre."""
    z, y, x = torch.meshgrid(torch.arange(d), torch.arange(h), torch.arange(w), indexing="ij")
    img = z.float() / 10 + 0.5 * ((y - 8).abs() < 2).float() * (x > 4).float() * (x < 20).float()
    return img[None].float()


def _only(**on):
    return Augment(**{**OFF, **on})


def test_all_parts_off_is_the_identity():
    x = _image()
    torch.manual_seed(0)
    assert torch.equal(_only()(x), x)


def test_the_default_flip_mirrors_left_right_only_about_half_the_time():
    x = _image()
    outcomes = []
    for seed in range(40):
        torch.manual_seed(seed)
        y = _only(flip_axes=(2,))(x)
        if torch.equal(y, x):
            outcomes.append("kept")
        elif torch.equal(y, torch.flip(x, dims=[3])):  # (C, D, H, W): axis 2 of (D, H, W) is W
            outcomes.append("mirrored")
        else:
            outcomes.append("other")
    assert "other" not in outcomes  # never flips slices or rows
    assert 10 <= outcomes.count("mirrored") <= 30, outcomes  # probability 1/2 each time


def test_flip_axes_choose_which_axes_may_be_mirrored():
    x = _image()
    seen = set()
    for seed in range(30):
        torch.manual_seed(seed)
        y = _only(flip_axes=(0, 1))(x)
        for dims in ([], [1], [2], [1, 2]):
            if torch.equal(y, torch.flip(x, dims=dims) if dims else x):
                seen.add(tuple(dims))
    assert seen == {(), (1,), (2,), (1, 2)}  # each allowed axis independently; W (axis 3) never


def test_rotation_is_in_plane_keeps_each_slice_level_and_the_bar_mass_and_grows_with_the_limit():
    x = _image()
    torch.manual_seed(1)
    y = _only(rotate_degrees=10.0)(x)
    assert y.shape == x.shape and y.dtype == x.dtype and not torch.equal(y, x)
    # Slice k keeps its level (k/10): rotation about the slice axis never mixes slices.
    background = y[0, :, 0:3, 0:3].mean(dim=(1, 2))
    assert torch.allclose(background, torch.arange(6).float() / 10, atol=1e-5)
    # The bar's mass is (almost) kept and its centre stays put: a rotation about the image centre.
    bar_x, bar_y = x - x[:, :, :1, :1], y - y[:, :, :1, :1]
    assert float(bar_y.sum()) == pytest.approx(float(bar_x.sum()), rel=0.05)
    big = _only(rotate_degrees=80.0)
    diffs = []
    for seed in range(10):
        torch.manual_seed(seed)
        diffs.append(float((big(x) - x).abs().mean()))
    assert max(diffs) > 3 * float((y - x).abs().mean())  # larger limits allow larger rotations


def test_intensity_change_is_an_affine_map_within_the_documented_gain_and_offset():
    x = _image()
    for seed in range(10):
        torch.manual_seed(seed)
        y = _only(scale=0.05, shift=0.02)(x)
        a, b = np.polyfit(x.flatten().numpy(), y.flatten().numpy(), 1)
        assert np.allclose(a * x.numpy() + b, y.numpy(), atol=1e-5)  # y = gain · x + offset exactly
        assert 0.95 - 1e-6 <= a <= 1.05 + 1e-6 and -0.02 - 1e-6 <= b <= 0.02 + 1e-6


def test_noise_is_additive_gaussian_with_the_given_standard_deviation():
    x = _image(8, 32, 32)
    torch.manual_seed(0)
    noise = (_only(noise_std=0.01)(x) - x).flatten()
    assert float(noise.std()) == pytest.approx(0.01, rel=0.05) and abs(float(noise.mean())) < 1e-3


def test_the_same_seed_gives_the_same_augmentation_and_another_seed_another():
    x = _image()
    outs = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        outs.append(Augment()(x))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])


def test_augment_refuses_a_batch_with_a_clear_message():
    with pytest.raises(ValueError, match=r"one \(C, D, H, W\) tensor, got shape \(2, 1, 4, 4, 4\)"):
        Augment()(torch.zeros(2, 1, 4, 4, 4))


def test_datasets_augment_a_copy_keep_labels_and_leave_the_cache_untouched():
    vols = [Volume.from_geometry(_image()[0].numpy() * (i + 1)) for i in range(3)]
    plain = VolumeDataset(vols, [0, 1, 0], preprocess=Preprocess(None, None, None))
    augmented = plain.with_augment(Augment(noise_std=0.05))
    before = [plain[i][0].clone() for i in range(3)]
    torch.manual_seed(0)
    for i in range(3):
        x_aug, label = augmented[i]
        assert int(label) == int(plain[i][1]) == [0, 1, 0][i]
        assert x_aug.shape == before[i].shape and not torch.equal(x_aug, before[i])
    for i in range(3):  # the shared cache still holds the un-augmented tensors
        assert torch.equal(plain[i][0], before[i])
