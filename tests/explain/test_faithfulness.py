"""deletion_insertion scores what the attribution explained (its target, baseline and score), with the
baselines explain() builds (one home), an in-distribution default, and Region (segmentation) targets."""

import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from medwb.attribution import ExplainWarning, Region, deletion_insertion, explain
from medwb.attribution.baselines import impute, make_baseline
from medwb.models import Preprocess, TeachingNet3D
from medwb.models.synthetic import synthetic_case

PP = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(24, 32, 32))


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    with torch.no_grad():
        net = TeachingNet3D(width=4).eval()
        for m in net.modules():  # non-default BatchNorm statistics: the net is not scale-invariant
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.bias.uniform_(-0.2, 0.2)
    ct, lesion = synthetic_case(1, seed=0, shape=(24, 32, 32))
    return net, ct, lesion


def _ends(curves, curve):
    g = curves[curves["curve"] == curve].sort_values("fraction")
    return float(g["score"].iloc[0]), float(g["score"].iloc[-1])


def _score(net, x, t=1, probability=False):
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None])
    out = torch.softmax(out, 1) if probability else out
    return float(out[0, t])


@pytest.mark.parametrize("baseline", ["zeros", "air", "blurred", 0.25, "array"])
def test_every_baseline_explain_accepts_is_accepted_and_means_the_same(case, baseline):
    net, ct, _ = case
    a = explain(net, ct, "saliency", target=1, preprocess=PP)
    b = np.full(a.model_input.shape, 0.3, np.float32) if baseline == "array" else baseline
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExplainWarning)
        curves = deletion_insertion(net, a, steps=2, baseline=b, score="logit")
    ref = make_baseline(b, ct, a.model_input, PP)  # what explain() would use for IG/occlusion
    _, deleted_all = _ends(curves, "deletion")
    assert deleted_all == pytest.approx(_score(net, ref), rel=1e-5, abs=1e-6)


def test_air_baseline_goes_through_the_preprocessing_like_in_explain(case):
    net, ct, _ = case
    ig = explain(net, ct, "integrated_gradients", target=1, preprocess=PP, baseline="air", n_steps=8)
    a = explain(net, ct, "saliency", target=1, preprocess=PP)
    with pytest.warns(ExplainWarning, match="out of distribution"):
        curves = deletion_insertion(net, a, steps=2, baseline="air", score="logit")
    assert _ends(curves, "deletion")[1] == pytest.approx(ig.baseline_score, rel=1e-5)


def test_it_scores_with_the_attributions_own_baseline_target_and_score(case):
    net, ct, _ = case
    a = explain(net, ct, "integrated_gradients", target=0, preprocess=PP, baseline="blurred", blur_sigma=2.0,
                n_steps=8)
    curves = deletion_insertion(net, a, steps=4, score=None)  # None: the attribution's own score (a logit here)
    assert set(curves["baseline"]) == {"blurred"} and set(curves["score_kind"]) == {"logit"}
    start, end = _ends(curves, "deletion")
    assert start == pytest.approx(a.score, rel=1e-5)            # f(x) for target 0, as a logit
    assert end == pytest.approx(a.baseline_score, rel=1e-5)     # f(the very baseline IG used)
    ins_start, ins_end = _ends(curves, "insertion")
    assert (ins_start, ins_end) == pytest.approx((a.baseline_score, a.score), rel=1e-5)


def test_default_baseline_is_the_in_distribution_blurred_input(case):
    net, ct, _ = case
    a = explain(net, ct, "gradcam", target=1, preprocess=PP)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplainWarning)  # no out-of-distribution warning by default
        curves = deletion_insertion(net, a, steps=2)
    assert set(curves["baseline"]) == {"blurred"} and set(curves["score_kind"]) == {"probability"}
    blurred = gaussian_filter(a.model_input.array, 4.0)
    assert _ends(curves, "deletion")[1] == pytest.approx(_score(net, blurred, probability=True), rel=1e-5)


def test_zeros_baseline_of_an_attribution_is_flagged_as_out_of_distribution(case):
    net, ct, _ = case
    a = explain(net, ct, "integrated_gradients", target=1, preprocess=PP, n_steps=4)  # explain's default: zeros
    with pytest.warns(ExplainWarning, match=r"'zeros'.*out of distribution"):
        deletion_insertion(net, a, steps=2)


def test_region_attribution_is_scored_over_its_region():
    torch.manual_seed(0)
    seg = nn.Conv3d(1, 2, 3, padding=1).eval()
    x = np.random.default_rng(0).normal(0, 1, (12, 16, 16)).astype(np.float32)
    mask = np.zeros(x.shape, bool)
    mask[4:8, 6:10, 6:10] = True
    a = explain(seg, x, "integrated_gradients", target=Region(mask, channel=1), n_steps=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExplainWarning)
        curves = deletion_insertion(seg, a, steps=4, score=None)
    start, end = _ends(curves, "deletion")
    assert start == pytest.approx(a.score, rel=1e-5) and end == pytest.approx(a.baseline_score, rel=1e-5)
    with torch.no_grad():
        inside = float(seg(torch.from_numpy(x)[None, None])[0, 1][torch.from_numpy(mask)].sum())
    assert start == pytest.approx(inside, rel=1e-5)


def test_ties_are_broken_at_random_not_in_raster_order(case):
    net, ct, _ = case
    a = explain(net, ct, "saliency", target=1, preprocess=PP)
    import dataclasses

    flat = dataclasses.replace(a, model_space=a.model_space.with_array(np.ones(a.model_space.shape, np.float32)))
    c1 = deletion_insertion(net, flat, steps=4, seed=1)
    c2 = deletion_insertion(net, flat, steps=4, seed=2)
    mid = (c1["fraction"] > 0) & (c1["fraction"] < 1)
    assert not np.allclose(c1.loc[mid, "score"], c2.loc[mid, "score"])  # the order of equal voxels is random
    assert c1["score"].tolist() == deletion_insertion(net, flat, steps=4, seed=1)["score"].tolist()


# -- removal="impute": ROAD's noisy linear imputation (medwb.attribution.baselines.impute) -------------------

def _blob_in_tissue():
    """Two tissues (0.2 left, 0.6 right of a plane) and a bright sphere (1.0) inside the right one."""
    z, y, x = np.mgrid[:16, :20, :20]
    img = np.where(x < 8, 0.2, 0.6).astype(np.float32)
    blob = (z - 8) ** 2 + (y - 10) ** 2 + (x - 13) ** 2 <= 9
    img[blob] = 1.0
    return img, blob


def test_imputing_a_removed_lesion_gives_the_tissue_around_it():
    img, blob = _blob_in_tissue()
    filled = impute(img, blob, noise=0.0)
    assert np.array_equal(filled[~blob], img[~blob])                     # kept voxels untouched
    assert np.abs(filled[blob] - 0.6).max() < 0.02                       # the lesion became its tissue
    slab = np.zeros(img.shape, bool)
    slab[:, 14:18, :] = True                                               # a slab across the tissue border
    edge = impute(img, slab, noise=0.0)
    assert edge[2, 16, 2] == pytest.approx(0.2, abs=0.02) and edge[2, 16, 18] == pytest.approx(0.6, abs=0.02)


def test_imputation_leaks_no_shape_and_adds_seeded_noise():
    img, blob = _blob_in_tissue()
    noisy = impute(img, blob, noise=0.05, seed=3)
    spread = float(np.subtract(*np.percentile(img, [99, 1])))
    assert np.std(noisy[blob] - impute(img, blob, noise=0.0)[blob]) == pytest.approx(0.05 * spread, rel=0.3)
    assert np.array_equal(noisy, impute(img, blob, noise=0.05, seed=3))
    everything = impute(img, np.ones(img.shape, bool), noise=0.0)        # nothing kept: one grey value
    assert np.ptp(everything) < 1e-3 and everything.mean() == pytest.approx(img.mean(), abs=1e-3)
    with pytest.raises(ValueError, match="removed has shape"):
        impute(img, blob[:, :, :5])


def test_impute_removal_ends_where_it_should(case):
    net, ct, _ = case
    a = explain(net, ct, "saliency", target=1, preprocess=PP)
    curves = deletion_insertion(net, a, steps=4, removal="impute", score="logit")
    assert set(curves["baseline"]) == {"impute"}
    x = a.model_input.array
    start, _ = _ends(curves, "deletion")
    assert start == pytest.approx(_score(net, x), rel=1e-5)             # nothing removed: the input itself
    ins_start, ins_end = _ends(curves, "insertion")
    assert ins_end == pytest.approx(_score(net, x), rel=1e-5)           # everything back
    grey = impute(x, np.ones(x.shape, bool), noise=0.01, seed=0)
    assert ins_start == pytest.approx(_score(net, grey), rel=1e-4)       # nothing kept: a grey, noisy volume
    with pytest.raises(ValueError, match="removal is 'holes'"):
        deletion_insertion(net, a, steps=2, removal="holes")
