"""inference_mode is the one "evaluate, then put every module back" of medwb, and its callers use it.

The old copies did ``was = model.training; model.eval(); ...; model.train(was)``, which resets every
submodule to the top module's flag: a BatchNorm frozen in eval mode inside a training model came back
training. Each caller test below fails on such a copy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medwb.models import inference_mode
from medwb.volume import Volume


class _Net(nn.Module):
    """A small 3D classifier with BatchNorm and dropout, for (N, 1, 8, 8, 8) inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm3d(3)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.bn(self.conv(x)))
        return self.head(self.drop(z.mean(dim=(2, 3, 4))))


def _frozen_bn_net() -> _Net:
    torch.manual_seed(0)
    net = _Net().train()
    net.bn.eval()  # fine-tuning with frozen BatchNorm statistics: the flag callers must not touch
    return net


def _flags(net: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in net.named_modules()}


def test_every_submodule_gets_its_own_flag_back():
    net = _frozen_bn_net()
    before = _flags(net)
    with inference_mode(net):
        assert not any(m.training for m in net.modules())
    assert _flags(net) == before and before["bn"] is False and before["conv"] is True


def test_flags_come_back_when_the_block_raises():
    net = _frozen_bn_net()
    before = _flags(net)
    with pytest.raises(RuntimeError, match="boom"), inference_mode(net):
        raise RuntimeError("boom")
    assert _flags(net) == before


def test_freeze_turns_weight_gradients_off_and_restores_each_parameter():
    net = _frozen_bn_net()
    net.conv.bias.requires_grad_(False)  # one parameter already frozen by the user
    with inference_mode(net, freeze=True):
        assert not any(p.requires_grad for p in net.parameters())
    assert net.conv.weight.requires_grad and not net.conv.bias.requires_grad and net.head.weight.requires_grad


def test_eval_mode_inside_makes_outputs_deterministic():
    net = _frozen_bn_net()
    x = torch.randn(2, 1, 8, 8, 8)
    with inference_mode(net), torch.no_grad():
        a, b = net(x), net(x)  # dropout off, BatchNorm on running statistics
    torch.testing.assert_close(a, b)


def test_non_modules_are_refused_with_the_fix():
    with pytest.raises(TypeError, match="Fix: pass the network"), inference_mode("net"):  # type: ignore[arg-type]
        pass


# -- the callers: explain, the metrics, predict/evaluate, deep features ----------------------------
def _volume() -> Volume:
    rng = np.random.default_rng(0)
    return Volume.from_geometry(rng.normal(size=(8, 8, 8)).astype(np.float32))


def test_explain_restores_a_frozen_batchnorm():
    from medwb.attribution import ExplainWarning, explain

    net = _frozen_bn_net()
    before = _flags(net)
    with pytest.warns(ExplainWarning):
        explain(net, _volume(), method="saliency", target=1)
    assert _flags(net) == before


def test_deletion_insertion_and_infidelity_restore_a_frozen_batchnorm():
    from medwb.attribution import deletion_insertion, explain, infidelity

    net = _frozen_bn_net()
    with inference_mode(net):
        attr = explain(net, _volume(), method="saliency", target=1)
    before = _flags(net)
    deletion_insertion(net, attr, steps=2)
    assert _flags(net) == before
    infidelity(net, attr, n_perturb_samples=2)
    assert _flags(net) == before


def test_evaluate_restores_a_frozen_batchnorm():
    from medwb.models import evaluate

    net = _frozen_bn_net()
    before = _flags(net)
    x = torch.randn(4, 1, 8, 8, 8)
    y = torch.tensor([0, 1, 0, 1])
    out = evaluate(net, torch.utils.data.TensorDataset(x, y), progress=False)
    assert np.isfinite(out["loss"]) and _flags(net) == before


def test_deep_features_restore_a_frozen_batchnorm():
    from medwb.features import deep_features

    net = _frozen_bn_net()
    before = _flags(net)
    df = deep_features(net, {"a": np.zeros((8, 8, 8)), "b": np.ones((8, 8, 8))}, layer="head")
    assert len(df) == 2 and _flags(net) == before
