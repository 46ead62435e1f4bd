import numpy as np
import pytest
import torch
from torch import nn

from medwb.attribution import (
    METHODS,
    ExplainWarning,
    LayerNotFoundError,
    MemoryBudgetError,
    Region,
    explain,
)
from medwb.models import Preprocess
from medwb.volume import Volume

PP = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(48, 48, 48))


class BiasNet(nn.Module):
    """Tiny 3D net with biases and non-default BatchNorm statistics (IG completeness is a real test)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv3d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm3d(4)
        self.conv2 = nn.Conv3d(4, 6, 3, padding=1, stride=2)
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)
            self.bn.weight.uniform_(0.5, 1.5)
            self.bn.bias.uniform_(-0.3, 0.3)
        self.eval()

    def forward(self, x):
        h = torch.relu(self.bn(self.conv1(x)))
        h = torch.relu(self.conv2(h))
        return self.fc(h.mean(dim=(2, 3, 4)))


def _vol(shape=(12, 16, 16), seed=0):
    rng = np.random.default_rng(seed)
    return Volume.from_geometry(rng.normal(0, 1, shape).astype(np.float32), spacing=(2.0, 1.0, 1.0))


def test_integrated_gradients_is_complete_on_a_net_with_biases_and_bn_stats():
    net, v = BiasNet(), _vol()
    a = explain(net, v, "integrated_gradients", target=2, n_steps=64)
    with torch.no_grad():
        fx = float(net(torch.from_numpy(v.array)[None, None])[0, 2])
        f0 = float(net(torch.zeros(1, 1, *v.shape))[0, 2])
    gap = fx - f0
    assert abs(gap) > 1e-3  # the test means something: the output moves between baseline and input
    assert a.score == pytest.approx(fx, rel=1e-5) and a.baseline_score == pytest.approx(f0, rel=1e-5)
    assert abs(a.delta) < 0.02 * abs(gap)
    assert float(a.model_space.array.sum()) == pytest.approx(gap, rel=0.02)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_a_map_on_the_volumes_grid(trained, synthetic, method):
    net, _ = trained
    vols, _, _ = synthetic
    ct = vols[41]
    kw = {"window": 12, "stride": 12} if method == "occlusion" else {}
    a = explain(net, ct, method, target=1, preprocess=PP, **kw)
    assert a.array.shape == ct.shape and np.allclose(a.affine, ct.affine)
    assert a.volume.same_grid(ct)
    assert a.model_space.shape == (48, 48, 48) and a.model_input.same_grid(a.model_space)
    assert np.isfinite(a.array).all() and np.abs(a.array).max() > 0
    assert a.method == method and a.params["target_index"] == 1
    assert (a.delta is not None) == (method == "integrated_gradients")


def test_map_carried_back_lands_where_it_was_on_the_model_grid(trained, synthetic):
    net, _ = trained
    ct = synthetic[0][41]
    a = explain(net, ct, "occlusion", target=1, preprocess=PP, window=8, stride=8)
    peak_model = np.unravel_index(np.argmax(a.model_space.array), a.model_space.shape)
    peak_world = a.model_space.index_to_world(peak_model)
    peak_orig = np.unravel_index(np.argmax(a.array), a.shape)
    assert np.linalg.norm(ct.index_to_world(peak_orig) - peak_world) < 3 * 3.0  # within 3 model voxels


def test_gradcam_equals_a_hand_rolled_hook_implementation():
    net, v = BiasNet(), _vol()
    x = torch.from_numpy(v.array)[None, None]
    store = {}
    h1 = net.conv2.register_forward_hook(lambda m, i, o: store.__setitem__("act", o))
    h2 = net.conv2.register_full_backward_hook(lambda m, gi, go: store.__setitem__("grad", go[0]))
    out = net(x)
    net.zero_grad()
    out[0, 1].backward()
    h1.remove()
    h2.remove()
    weights = store["grad"].mean(dim=(2, 3, 4), keepdim=True)
    cam = torch.relu((weights * store["act"]).sum(dim=1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=v.shape, mode="trilinear", align_corners=False)
    a = explain(net, v, "gradcam", target=1, layer="conv2")
    assert a.params["layer"] == "conv2"
    np.testing.assert_allclose(a.array, cam[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)


def test_gradcam_finds_the_last_conv_block_by_itself(trained):
    net, _ = trained
    a = explain(net, np.random.default_rng(0).random((48, 48, 48), dtype=np.float32), "gradcam", target=1)
    assert a.params["layer"] == "features.conv4"


def test_unknown_layer_lists_the_models_conv_layers(trained):
    net, _ = trained
    with pytest.raises(LayerNotFoundError, match="features.conv4.0"):
        explain(net, np.zeros((48, 48, 48), np.float32), "gradcam", target=1, layer="features.block9")


def test_target_out_of_range_says_how_many_outputs_there_are():
    with pytest.raises(IndexError, match="returns 3 output"):
        explain(BiasNet(), _vol(), "saliency", target=3)


def test_predicted_target_explains_the_argmax_class():
    net, v = BiasNet(), _vol()
    with torch.no_grad():
        k = int(net(torch.from_numpy(v.array)[None, None]).argmax())
    assert explain(net, v, "saliency").params["target_index"] == k


def test_nan_voxels_are_refused_with_a_fix():
    v = _vol()
    v.array[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="nan_to_num"):
        explain(BiasNet(), v, "saliency", target=0)


def test_wrong_shape_and_dtype_are_refused():
    with pytest.raises(ValueError, match="3D volume"):
        explain(BiasNet(), np.zeros((1, 1, 8, 8, 8), np.float32), "saliency", target=0)
    with pytest.raises(TypeError, match="dtype bool"):
        explain(BiasNet(), np.zeros((8, 8, 8), bool), "saliency", target=0)


def test_model_in_train_mode_is_explained_in_eval_mode_and_restored():
    net, v = BiasNet(), _vol()
    ref = explain(net, v, "saliency", target=0).array
    net.train()
    with pytest.warns(ExplainWarning, match="eval"):
        a = explain(net, v, "saliency", target=0)
    assert net.training
    np.testing.assert_array_equal(a.array, ref)


def test_memory_budget_too_small_says_what_to_do():
    with pytest.raises(MemoryBudgetError, match="Fix"):
        explain(BiasNet(), _vol(), "integrated_gradients", target=0, memory_budget="10KiB")


def test_internal_batch_size_is_chosen_from_the_budget_and_overridable():
    net, v = BiasNet(), _vol()
    assert explain(net, v, "integrated_gradients", target=0).params["internal_batch_size"] == 4  # CPU cap
    a = explain(net, v, "integrated_gradients", target=0, internal_batch_size=7)
    assert a.params["internal_batch_size"] == 7


def test_attributions_are_reproducible_on_cpu():
    net, v = BiasNet(), _vol()
    for method in ("integrated_gradients", "smoothgrad"):
        np.testing.assert_array_equal(explain(net, v, method, target=1).array, explain(net, v, method, target=1).array)


def test_region_target_sums_a_segmentation_output_over_the_mask():
    class Seg(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv3d(1, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    net, v = Seg().eval(), _vol()
    mask = np.zeros(v.shape, bool)
    mask[4:8, 6:10, 6:10] = True
    a = explain(net, v, "integrated_gradients", target=Region(mask, channel=1), n_steps=16)
    with torch.no_grad():
        out = net(torch.from_numpy(v.array)[None, None])[0, 1]
        base = net(torch.zeros(1, 1, *v.shape))[0, 1]
    assert a.score == pytest.approx(float(out[torch.from_numpy(mask)].sum()), rel=1e-5)
    assert float(a.model_space.array.sum()) == pytest.approx(float((out - base)[torch.from_numpy(mask)].sum()),
                                                             rel=1e-3)
    far = np.ones(v.shape, bool)
    far[2:10, 4:12, 4:12] = False  # a 3x3x3 conv cannot see further than one voxel past the mask
    assert np.abs(a.array[far]).max() == 0


def test_class_target_on_a_segmentation_output_points_to_region():
    seg = nn.Conv3d(1, 2, 3, padding=1).eval()
    with pytest.raises(ValueError, match="Region"):
        explain(seg, _vol(), "saliency", target=1)


def test_baselines_air_and_blurred_differ_and_are_recorded(trained, synthetic):
    net, _ = trained
    ct = synthetic[0][41]
    a_air = explain(net, ct, "integrated_gradients", target=1, preprocess=PP, baseline="air", n_steps=8)
    a_blur = explain(net, ct, "integrated_gradients", target=1, preprocess=PP, baseline="blurred", n_steps=8)
    assert a_air.params["baseline"] == "air" and a_blur.params["blur_sigma"] == 4.0
    assert not np.allclose(a_air.model_space.array, a_blur.model_space.array)


def test_medwb_explain_package_itself_is_callable():
    import medwb.attribution

    a = medwb.explain(BiasNet(), _vol(), "saliency", target=0)
    assert a.method == "saliency"
