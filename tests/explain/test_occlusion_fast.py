"""medwb's incremental occlusion reproduces Captum's Occlusion map (same windows, same averaging)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")

from torch import nn  # noqa: E402

from medwb.attribution import explain  # noqa: E402
from medwb.attribution.occlusion import find_local_trunk, occlusion, window_boxes  # noqa: E402
from medwb.attribution.targets import ScoreModel  # noqa: E402
from medwb.models import TeachingNet3D, seed_everything  # noqa: E402


def _net(width: int = 4) -> nn.Module:
    seed_everything(0)
    net = TeachingNet3D(width=width).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return net


def _volume_with_air(shape: tuple[int, int, int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, *shape, generator=g)
    x[:, :, : shape[0] // 3] = 0.0  # air after windowing: equals the zeros baseline
    return x


def _captum(fwd, x, b, win, st):
    return captum_attr.Occlusion(fwd).attribute(x, sliding_window_shapes=(1, *win), strides=(1, *st),
                                                baselines=b, target=1, perturbations_per_eval=4)


@pytest.mark.parametrize(("shape", "win", "st"), [((24, 24, 24), (8, 8, 8), (4, 4, 4)),
                                                   ((22, 19, 25), (7, 6, 9), (5, 4, 9))])
def test_incremental_occlusion_equals_captum_including_air_and_clipped_windows(shape, win, st):
    fwd = ScoreModel(_net()).eval()
    x = _volume_with_air(shape)
    b = torch.zeros_like(x)
    ours, info = occlusion(fwd, x, b, 1, win, st, batch=4)
    ref = _captum(fwd, x, b, win, st)
    assert info["engine"] == "incremental" and info["trunk"] == "model.features"
    assert 0 < info["windows_evaluated"] < info["windows"]  # air windows skipped
    scale = float(ref.abs().max())
    assert scale > 0
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4 * scale)


def test_nonzero_baseline_and_generic_model_fall_back_to_plain_sliding_window():
    class Odd(nn.Module):  # no Sequential trunk: the plain sliding window must still match Captum
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(1, 3, 3, padding=1)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3, 4)))

    torch.manual_seed(0)
    fwd = ScoreModel(Odd()).eval()
    x = _volume_with_air((12, 12, 12))
    b = torch.full_like(x, 0.3)
    ours, info = occlusion(fwd, x, b, 1, (4, 4, 4), (4, 4, 4), batch=3)
    assert info["engine"] == "sliding-window" and info["windows_evaluated"] == info["windows"]
    ref = _captum(fwd, x, b, (4, 4, 4), (4, 4, 4))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5 * float(ref.abs().max()))


def test_trunk_that_does_not_see_the_raw_input_is_not_used():
    class Normalising(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU())
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(self.features(x * 2.0).mean(dim=(2, 3, 4)))

    torch.manual_seed(0)
    fwd = ScoreModel(Normalising()).eval()
    x = torch.rand(1, 1, 10, 10, 10)
    ours, info = occlusion(fwd, x, torch.zeros_like(x), 1, (4, 4, 4), (3, 3, 3))
    assert find_local_trunk(fwd) is not None and info["engine"] == "sliding-window"
    ref = _captum(fwd, x, torch.zeros_like(x), (4, 4, 4), (3, 3, 3))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5 * float(ref.abs().max()))


def test_explain_occlusion_uses_the_incremental_engine_and_matches_captum():
    net = _net()
    x = _volume_with_air((32, 32, 32))
    a = explain(net, x[0, 0].numpy(), "occlusion", target=1, window=8, stride=4)
    assert a.params["occlusion_engine"] == "incremental"
    assert a.params["windows_evaluated"] < a.params["windows"] == 7**3
    ref = _captum(ScoreModel(net).eval(), x, torch.zeros_like(x), (8, 8, 8), (4, 4, 4))[0, 0].numpy()
    np.testing.assert_allclose(a.array, ref, rtol=0, atol=1e-4 * float(np.abs(ref).max()))


def test_window_boxes_follow_captum_counts_and_clip_the_last_window():
    assert window_boxes((10,), (4,), (4,)) == [((0, 4),), ((4, 8),), ((8, 10),)]
    assert len(window_boxes((64, 64, 64), (16,) * 3, (8,) * 3)) == 343
    with pytest.raises(ValueError, match="stride"):
        window_boxes((10,), (4,), (5,))
