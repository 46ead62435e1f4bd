"""Attribution evaluation: localisation on the demo's ground truth, faithfulness, sanity, figures."""

import numpy as np
import pytest
import torch

from medwb.attribution import (
    deletion_insertion,
    explain,
    infidelity,
    localisation,
    localisation_table,
    pointing_game,
    randomisation_check,
    sensitivity,
)
from medwb.attribution.plots import plot_attribution, plot_curves, plot_randomisation
from medwb.attribution.sanity import compare_maps
from medwb.demo.truth import LABEL_LESION


def _lesion(mask):
    return mask.with_array((mask.array == LABEL_LESION).astype(np.uint8))  # medwb.demo's coding


def _positives(test_c):
    return [c for c in test_c.case_ids if test_c.row(c)["label"] == 1]


@pytest.mark.slow
def test_attribution_mass_concentrates_in_the_lesion_far_more_than_chance(demo):
    net, pp, _, test_c, _ = demo
    enrich = []
    for cid in _positives(test_c):
        a = explain(net, test_c.volume(cid), "integrated_gradients", target=1, preprocess=pp, n_steps=16)
        loc = localisation(a, _lesion(test_c.mask(cid)))
        assert 0 <= loc["mass_in_mask"] <= 1 and 0 < loc["chance"] < 0.05
        enrich.append(loc["enrichment"])
    assert len(enrich) >= 3
    assert np.median(enrich) > 3.0, enrich


@pytest.mark.slow
def test_maps_decorrelate_when_weights_are_randomised(demo):
    net, pp, _, test_c, _ = demo
    vol = test_c.volume(_positives(test_c)[0])
    df = randomisation_check(net, vol, "gradcam", target=1, preprocess=pp, progress=False)
    assert df["layer"].iloc[0] == "(original)" and df["spearman_abs"].iloc[0] == pytest.approx(1.0)
    assert df["layer"].iloc[1] == "classifier"
    last = df.iloc[-1]
    assert last["ssim"] < 0.6 and abs(last["spearman_abs"]) < 0.5, df
    before = {k: v.clone() for k, v in net.state_dict().items()}
    randomisation_check(net, vol, "saliency", target=1, preprocess=pp, progress=False, layers=["classifier"])
    assert all((before[k] == v).all() for k, v in net.state_dict().items())  # the model is untouched


def test_deletion_of_the_most_attributed_voxels_hurts_more_than_random_deletion(trained, synthetic):
    import dataclasses

    from medwb.models import Preprocess

    net, _ = trained
    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    a = explain(net, synthetic[0][41], "integrated_gradients", target=1, preprocess=pp, n_steps=16)
    curves = deletion_insertion(net, a, steps=10)
    assert set(curves["curve"]) == {"deletion", "insertion"} and len(curves) == 22
    rng = np.random.default_rng(0)
    shuffled = a.model_space.with_array(rng.random(a.model_space.shape).astype(np.float32))
    random_map = dataclasses.replace(a, model_space=shuffled)
    rand = deletion_insertion(net, random_map, steps=10)
    auc = curves.groupby("curve")["auc"].first()
    auc_rand = rand.groupby("curve")["auc"].first()
    assert auc["deletion"] < auc_rand["deletion"]
    assert auc["insertion"] > auc_rand["insertion"]


def test_infidelity_and_sensitivity_are_finite_and_non_negative(trained, synthetic):
    from medwb.models import Preprocess

    net, _ = trained
    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    a = explain(net, synthetic[0][41], "saliency", target=1, preprocess=pp)
    inf = infidelity(net, a, n_perturb_samples=4)
    sens = sensitivity(net, a, n_perturb_samples=2)
    assert np.isfinite(inf) and inf >= 0
    assert np.isfinite(sens) and sens >= 0
    assert infidelity(net, a, n_perturb_samples=4) == inf  # seeded: the same number again
    assert sens > 0  # a ReLU net's gradient moves under input noise


class _Linear(torch.nn.Module):
    """logit_c = w_c · x + b_c on an (N, 1, 8, 8, 8) input: its gradient is w, whatever x is."""

    def __init__(self, seed=7):  # not 0: infidelity's noise is seeded 0 and must not replay these weights
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(2, 512, generator=g))
        self.b = torch.nn.Parameter(torch.tensor([0.5, -0.25]))

    def forward(self, x):
        return x.reshape(len(x), -1) @ self.w.T + self.b


class _Square(_Linear):
    """logit_c = w_c · x² + b_c: its gradient 2 w x moves with x."""

    def forward(self, x):
        return super().forward(x * x)


def _attribution(model_map, x):
    from medwb.attribution import Attribution
    from medwb.volume import Volume

    grid = Volume.from_geometry(x)
    return Attribution(model_map.astype(np.float32), grid.affine, "saliency", 1,
                       params={"target_index": 1, "score": "logit"},
                       model_space=grid.with_array(model_map.astype(np.float32)), model_input=grid)


def test_infidelity_is_zero_for_the_true_gradient_of_a_linear_model_and_not_for_a_wrong_map():
    # For f(x) = w·x, f(x) - f(x - I) = w·I exactly, so the map w has infidelity 0 (up to rounding),
    # and the all-zero map has infidelity E[(w·I)²] = noise² |w|² (I ~ N(0, noise²) per voxel).
    model = _Linear().eval()
    x = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    w = model.w[1].detach().numpy().reshape(8, 8, 8)
    noise = 0.05
    exact = infidelity(model, _attribution(w, x), n_perturb_samples=64, noise=noise)
    zero = infidelity(model, _attribution(np.zeros_like(w), x), n_perturb_samples=64, noise=noise)
    other_class = infidelity(model, _attribution(model.w[0].detach().numpy().reshape(8, 8, 8), x),
                             n_perturb_samples=64, noise=noise)
    expected_zero = noise**2 * float((w.astype(np.float64) ** 2).sum())
    assert exact < 1e-6 * expected_zero, (exact, expected_zero)
    assert zero == pytest.approx(expected_zero, rel=0.5)  # 64 samples of a chi-square-like variable
    assert other_class > 100 * exact and other_class == pytest.approx(2 * expected_zero, rel=0.5)


def test_sensitivity_is_zero_when_the_map_cannot_change_and_grows_with_the_input_noise():
    x = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32) + 0.5
    linear = _Linear().eval()
    a_lin = explain(linear, x, "saliency", target=1)
    assert np.allclose(a_lin.array, np.abs(linear.w[1].detach().numpy().reshape(8, 8, 8)), atol=1e-6)
    assert sensitivity(linear, a_lin, n_perturb_samples=3, radius=0.1) == pytest.approx(0.0, abs=1e-6)
    square = _Square().eval()
    a_sq = explain(square, x, "saliency", target=1)
    small = sensitivity(square, a_sq, n_perturb_samples=3, radius=0.01)
    large = sensitivity(square, a_sq, n_perturb_samples=3, radius=0.2)
    assert 0 < small < large  # |2 w x| changes by about |2 w| r / |2 w x| ~ r / x
    assert large < 1.0


def test_figures_are_returned_not_shown(trained, synthetic):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medwb.models import Preprocess

    net, _ = trained
    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    vols, _, masks = synthetic
    a = explain(net, vols[41], "gradcam", target=1, preprocess=pp)
    curves = deletion_insertion(net, a, steps=4)
    table = randomisation_check(net, vols[41], "gradcam", 1, preprocess=pp, progress=False,
                                layers=["classifier", "features.conv4.0"])
    n_open = len(plt.get_fignums())
    figs = [plot_attribution(a, vols[41], mask=masks[41]), plot_curves(curves), plot_randomisation(table)]
    assert all(len(f.axes) >= 1 for f in figs)
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    assert len(plt.get_fignums()) == n_open + 3  # returned for the caller to show or close, not shown
    plt.close("all")


def _overlay_parts(fig):
    ax = fig.axes[0]
    images = ax.get_images()
    return ax, [np.asarray(im.get_array()) for im in images], images


def test_attribution_figure_shows_the_windowed_slice_under_the_map_and_the_mask():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medwb.attribution import Attribution
    from medwb.volume import Volume

    z, y, x = np.indices((6, 10, 12))
    ct = Volume.from_geometry((x * 20 - 100 + z).astype(np.int16), spacing=(2.0, 1.0, 1.0), modality="CT")
    arr = np.zeros(ct.shape, np.float32)
    arr[4, 2:9, 3:10] = np.exp(-((y[4, 2:9, 3:10] - 5) ** 2 + (x[4, 2:9, 3:10] - 6) ** 2) / 6)  # a blob
    arr[1, 2, 3] = -0.8  # the largest |value| is on slice 4; the map is signed
    a = Attribution(arr, ct.affine, "integrated_gradients", 1)
    mask = np.zeros(ct.shape, np.uint8)
    mask[4, 3:7, 4:9] = 1
    fig = plot_attribution(a, ct, mask=mask)
    ax, (gray, overlay), images = _overlay_parts(fig)
    assert ax.get_title().startswith("integrated_gradients, target 1, slice 4")
    np.testing.assert_allclose(gray, ct.window("brain")[4])  # the image under the map, windowed
    shown = ~np.ma.getmaskarray(overlay)
    assert shown[5, 6]  # the map's peak is on show
    mapped = shown & (arr[4] > 0) & (arr[4] < 0.99 * arr.max())  # unclipped voxels of the map
    ratio = np.ma.getdata(overlay)[mapped] / arr[4][mapped]
    assert mapped.sum() >= 5 and ratio.min() > 0 and np.allclose(ratio, ratio[0], rtol=1e-4)  # ∝ the map
    low, high = images[1].get_clim()
    assert images[1].get_cmap().name == "RdBu_r" and low == pytest.approx(-high)  # signed: diverging
    lime = tuple(matplotlib.colors.to_rgba("lime"))
    assert any(tuple(c.get_edgecolor()[0]) == lime for c in ax.collections)  # the mask outline
    assert len(fig.axes) == 2  # the image and its colour bar
    other = plot_attribution(Attribution(np.abs(arr), ct.affine, "saliency", 1), ct, index=1, axis=0)
    o_ax, (o_gray, _), o_images = _overlay_parts(other)
    assert o_ax.get_title().startswith("saliency, target 1, slice 1")
    np.testing.assert_allclose(o_gray, ct.window("brain")[1])
    assert o_images[1].get_cmap().name == "inferno" and o_images[1].get_clim()[0] == 0  # unsigned
    assert not any(tuple(c.get_edgecolor()[0]) == lime for c in o_ax.collections)  # no mask, no outline
    plt.close("all")


def test_curve_and_randomisation_figures_plot_the_table_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fractions = np.linspace(0, 1, 5)
    curves = pd.DataFrame(
        [{"curve": "deletion", "fraction": f, "score": 1 - f**0.5, "auc": 0.25} for f in fractions]
        + [{"curve": "insertion", "fraction": f, "score": f**2, "auc": 0.75} for f in fractions])
    ax = plot_curves(curves).axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"deletion (AUC 0.250)", "insertion (AUC 0.750)"}
    np.testing.assert_allclose(lines["deletion (AUC 0.250)"].get_xdata(), fractions)
    np.testing.assert_allclose(lines["deletion (AUC 0.250)"].get_ydata(), 1 - fractions**0.5)
    np.testing.assert_allclose(lines["insertion (AUC 0.750)"].get_ydata(), fractions**2)
    assert "fraction of voxels" in ax.get_xlabel()

    table = pd.DataFrame({"step": [0, 1, 2], "layer": ["(original)", "classifier", "features.conv4.0"],
                          "spearman_abs": [1.0, 0.6, 0.1], "ssim": [1.0, 0.5, 0.2], "method": "gradcam"})
    ax = plot_randomisation(table).axes[0]
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    spearman = [ln for ln in lines if "spearman" in ln.get_label().lower()]
    ssim = [ln for ln in lines if "ssim" in ln.get_label().lower()]
    assert len(lines) == 2 and len(spearman) == len(ssim) == 1
    np.testing.assert_allclose(spearman[0].get_ydata(), [1.0, 0.6, 0.1])
    np.testing.assert_allclose(ssim[0].get_ydata(), [1.0, 0.5, 0.2])
    np.testing.assert_allclose(ssim[0].get_xdata(), [0, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["(original)", "classifier", "features.conv4.0"]
    assert ax.get_title() == "cascading randomisation: gradcam"
    plt.close("all")


def test_localisation_table_has_one_row_per_case_and_method(trained, synthetic):
    from medwb.models import Preprocess

    net, _ = trained
    vols, labels, masks = synthetic

    class Mini:
        case_ids = ["a", "b"]

        def volume(self, cid):
            return vols[41] if cid == "a" else vols[43]

        def mask(self, cid):
            return masks[41] if cid == "a" else masks[43]

    pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))
    t = localisation_table(net, Mini(), methods=("saliency", "gradcam"), preprocess=pp, progress=False)
    assert len(t) == 4 and set(t["method"]) == {"saliency", "gradcam"}
    assert {"mass_in_mask", "chance", "enrichment", "pointing_hit"} <= set(t.columns)
    assert t[["case_id", "method"]].values.tolist() == [["a", "saliency"], ["a", "gradcam"],
                                                        ["b", "saliency"], ["b", "gradcam"]]
    for row in t.itertuples():  # each row is localisation() of that case's map against its own mask
        cohort = Mini()
        want = localisation(explain(net, cohort.volume(row.case_id), row.method, 1, preprocess=pp),
                            cohort.mask(row.case_id))
        assert row.mass_in_mask == pytest.approx(want["mass_in_mask"])
        assert row.chance == pytest.approx(want["chance"]) and row.pointing_hit == want["pointing_hit"]


def test_compare_maps_is_one_for_identical_and_low_for_independent_maps():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16, 16))
    same = compare_maps(a, a.copy())
    assert same["spearman"] == pytest.approx(1.0) and same["ssim"] == pytest.approx(1.0)
    ranked = compare_maps(a, a**3)  # the same ranking, other values: Spearman 1, SSIM below 1
    assert ranked["spearman"] == pytest.approx(1.0) and ranked["ssim"] < 0.9
    other = compare_maps(a, rng.random((16, 16, 16)))
    assert abs(other["spearman"]) < 0.1 and other["ssim"] < 0.2


def test_localisation_counts_positive_mass_inside_the_mask():
    from medwb.attribution import Attribution

    arr = np.zeros((4, 4, 4), np.float32)
    arr[0, 0, 0], arr[3, 3, 3], arr[1, 1, 1] = 3.0, 1.0, -5.0
    a = Attribution(arr, np.eye(4), "saliency", 1)
    mask = np.zeros((4, 4, 4), bool)
    mask[0, 0, 0] = True
    loc = localisation(a, mask)
    assert loc["mass_in_mask"] == pytest.approx(0.75) and loc["chance"] == pytest.approx(1 / 64)
    assert loc["pointing_hit"] == 1.0
    mask2 = np.zeros((4, 4, 4), bool)
    mask2[1, 0, 0] = True
    assert not pointing_game(a, mask2) and pointing_game(a, mask2, tolerance_mm=1.0)
