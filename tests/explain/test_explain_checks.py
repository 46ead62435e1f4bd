"""explain() refuses bad settings clearly, warns when IG does not add up, resolves target=-1 the same way
in every method, and leaves the caller's model and arrays as they were."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from medwb.attribution import METHODS, ExplainWarning, explain
from medwb.models import TeachingNet3D


def _net(width=4):
    torch.manual_seed(0)
    return TeachingNet3D(width=width).eval()


def _x(shape=(24, 24, 24), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


KW = {"n_steps": 8, "n_samples": 2, "window": 12}


@pytest.mark.parametrize("method", METHODS)
def test_target_minus_one_means_the_last_class_in_every_method(method):
    net, x = _net(), _x()
    last = explain(net, x, method, target=-1, **KW)
    named = explain(net, x, method, target=1, **KW)
    assert last.params["target_index"] == 1
    np.testing.assert_array_equal(last.array, named.array)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_target_below_minus_n_is_refused_with_the_valid_range(method):
    with pytest.raises(IndexError, match=r"-1\.\.-2"):
        explain(_net(), _x(), method, target=-3, **KW)


class _BiasNet(nn.Module):
    """ReLU net with biases and non-default BatchNorm statistics: IG is not exact at few steps."""

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
        return self.fc(torch.relu(self.conv2(h)).mean(dim=(2, 3, 4)))


def test_integrated_gradients_warns_when_its_completeness_gap_is_large():
    x = np.random.default_rng(0).normal(0, 1, (12, 16, 16)).astype(np.float32)
    with pytest.warns(ExplainWarning, match=r"(?s)completeness gap is 1\d\.\d%.*Fix: raise n_steps"):
        a = explain(_BiasNet(), x, "integrated_gradients", target=1, n_steps=1)
    assert a.relative_delta > 0.05  # the warning tells the truth (14 % here)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplainWarning)
        good = explain(_BiasNet(), x, "integrated_gradients", target=1, n_steps=64)
    assert good.relative_delta <= 0.05


def test_float64_model_is_refused_with_the_fix():
    net = _net().double()
    with pytest.raises(TypeError, match=r"float64.*\n.*Fix: .*float\(\)"):
        explain(net, _x(), "saliency", target=1)


@pytest.mark.parametrize("method", ["saliency", "gradcam", "integrated_gradients"])
def test_volume_smaller_than_the_nets_downsampling_is_refused_with_the_fix(method):
    with pytest.raises(ValueError, match=r"shape \(4, 4, 4\), smaller than the network's downsampling.*\n.*Fix"):
        explain(_net(), _x((4, 4, 4)), method, target=1, n_steps=4)


def test_gradcam_on_a_linear_layer_is_refused_and_lists_conv_layers():
    with pytest.raises(ValueError, match=r"'classifier', a Linear.*\n.*Fix.*features\.conv4\.0"):
        explain(_net(), _x(), "gradcam", target=1, layer="classifier")


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_n_steps_below_one_is_refused(bad):
    with pytest.raises(ValueError, match=rf"n_steps is {bad}.*\n.*Fix"):
        explain(_net(), _x(), "integrated_gradients", target=1, n_steps=bad)


@pytest.mark.parametrize("bad", ["lots", "-1GiB", "0"])
def test_memory_budget_that_is_not_a_size_is_refused(bad):
    with pytest.raises(ValueError, match=rf"memory_budget is '{bad}'.*\n.*Fix: .*2GiB"):
        explain(_net(), _x(), "saliency", target=1, memory_budget=bad)


def test_without_preprocess_array_and_model_space_do_not_share_memory():
    a = explain(_net(), _x(), "saliency", target=1)
    assert not np.shares_memory(a.array, a.model_space.array)
    before = a.model_space.array.copy()
    a.array[...] = 0
    np.testing.assert_array_equal(a.model_space.array, before)


class _Recorder(nn.Module):
    """A model whose .to() calls are recorded; its first parameter lives on the 'meta' device, so its home is
    not the CPU explain() runs on (the real work is done by a CPU convolution that .to() leaves alone)."""

    def __init__(self):
        super().__init__()
        self.home_marker = nn.Parameter(torch.zeros(1, device="meta"))
        torch.manual_seed(0)
        self.conv = nn.Conv3d(1, 2, 3, padding=1)
        self.moves = []

    def to(self, *args, **kwargs):  # record, do not move (a meta tensor cannot be copied)
        self.moves.append(torch.device(args[0] if args else kwargs["device"]))
        return self

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3, 4))


def test_explain_puts_the_model_back_on_its_own_device(monkeypatch):
    import medwb.attribution.core as core

    monkeypatch.setattr(core, "flat_provenance", lambda **kw: {})  # hashing meta weights is not the point
    net = _Recorder().eval()
    explain(net, _x((8, 8, 8)), "saliency", target=1, device="cpu")
    assert net.moves[0] == torch.device("cpu")   # moved to the chosen device for the work ...
    assert net.moves[-1] == torch.device("meta")  # ... and back home afterwards


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_explain_on_cuda_leaves_a_cpu_model_on_the_cpu():
    net = _net()
    net.train()
    with pytest.warns(ExplainWarning):
        explain(net, _x(), "integrated_gradients", target=1, device="cuda", n_steps=4)
    assert all(p.device.type == "cpu" for p in net.parameters()) and net.training
