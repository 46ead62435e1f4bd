"""Deep features: penultimate-layer activations of any torch model, captured with a forward hook.

By default the hook sits on the input of the model's last ``nn.Linear`` (the penultimate
activations of a classifier); name any other layer with ``layer=``. Spatial outputs
(N, C, D, H, W) are global-average-pooled to (N, C). Optional PCA compresses them: PCA is
unsupervised, but fit it inside cross-validation folds (``DeepPCA``) when its output feeds a model
that is validated on the same cases. torch is imported on use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from medwb.volume import Volume

__all__ = ["deep_features", "DeepPCA", "LayerNotFoundError"]


class LayerNotFoundError(KeyError):
    """The model has no layer of that name."""

    def __str__(self) -> str:
        return str(self.args[0])


def _find_layer(model: Any, layer: str | None) -> tuple[Any, bool]:
    import torch.nn as nn

    modules = dict(model.named_modules())
    if layer is None:
        linears = [m for m in modules.values() if isinstance(m, nn.Linear)]
        if not linears:
            raise LayerNotFoundError(
                "the model has no nn.Linear layer to take the penultimate activations from.\n"
                f"Fix: name a layer with layer=...; layers it has: {[n for n in modules if n][:20]}"
            )
        return linears[-1], True  # capture the input of the last Linear
    if layer not in modules:
        raise LayerNotFoundError(
            f"the model has no layer {layer!r}. Layers it does have: {[n for n in modules if n][:30]}"
        )
    return modules[layer], False


def _as_tensor(item: Any, preprocess: Callable[[Volume], Any] | None) -> Any:
    import torch

    if isinstance(item, Volume):
        item = preprocess(item) if preprocess is not None else item
        if isinstance(item, Volume):
            item = item.array
    t = torch.as_tensor(np.asarray(item, dtype=np.float32)) if not isinstance(item, torch.Tensor) else item.float()
    if t.ndim == 3:
        t = t[None]  # add the channel axis
    if t.ndim != 4:
        raise ValueError(f"each input must be (D, H, W) or (C, D, H, W), got shape {tuple(t.shape)}")
    return t


def deep_features(
    model: Any,
    inputs: Mapping[str, Any] | Iterable[tuple[str, Any]],
    layer: str | None = None,
    preprocess: Callable[[Volume], Any] | None = None,
    batch_size: int = 4,
    pca: int | None = None,
    device: str = "cpu",
) -> pd.DataFrame:
    """Activations of ``layer`` (default: penultimate) for each case, one row per case_id.

    Args:
        model: any torch nn.Module (put in eval mode here; weights untouched).
        inputs: case_id -> Volume / array (D, H, W) / tensor (C, D, H, W), as a dict or pairs.
        preprocess: applied to Volumes first, e.g. medwb.models.Preprocess().
        pca: keep this many principal components (columns deep_pc1...), fitted on these cases.

    Example:
        >>> import torch.nn as nn
        >>> net = nn.Sequential(nn.Conv3d(1, 4, 3), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2))
        >>> deep_features(net, {"a": np.zeros((8, 8, 8)), "b": np.ones((8, 8, 8))}).shape  # case_id + 4
        (2, 5)
    """
    import torch

    pairs = list(inputs.items()) if isinstance(inputs, Mapping) else list(inputs)
    if not pairs:
        raise ValueError("no inputs given")
    module, use_input = _find_layer(model, layer)
    captured: list[Any] = []

    def hook(_m: Any, inp: Any, out: Any) -> None:
        a = inp[0] if use_input else out
        if isinstance(a, (tuple, list)):
            a = a[0]
        a = a.detach()
        if a.ndim > 2:
            a = a.flatten(2).mean(-1)
        captured.append(a.float().cpu().numpy())

    from tqdm.auto import tqdm

    from medwb.models.inference import inference_mode

    handle = module.register_forward_hook(hook)
    try:
        with inference_mode(model), torch.no_grad():
            for s in tqdm(range(0, len(pairs), batch_size), desc="deep features", disable=len(pairs) < 16):
                batch = torch.stack([_as_tensor(x, preprocess) for _, x in pairs[s:s + batch_size]]).to(device)
                model(batch)
    finally:
        handle.remove()
    feats = np.concatenate(captured, axis=0).reshape(len(pairs), -1)
    ids = [cid for cid, _ in pairs]
    df = pd.DataFrame(feats, columns=[f"deep_{i}" for i in range(feats.shape[1])])
    df.insert(0, "case_id", ids)
    if pca is not None:
        p = DeepPCA(pca).fit(df)
        df = p.transform(df)
        df.attrs["explained_variance_ratio"] = p.explained_variance_ratio_.tolist()
    return df


class DeepPCA:
    """PCA of deep_* columns (numpy SVD), fit on training cases and applied to others.

    Example:
        >>> d = pd.DataFrame({"case_id": list("abcd"), "deep_0": [0., 1, 2, 3], "deep_1": [0., 2, 4, 6]})
        >>> DeepPCA(1).fit(d).transform(d).columns.tolist()
        ['case_id', 'deep_pc1']
    """

    def __init__(self, n_components: int) -> None:
        self.n_components = int(n_components)

    def _cols(self, df: pd.DataFrame) -> list[str]:
        return [c for c in df.columns if c.startswith("deep_") and not c.startswith("deep_pc")]

    def fit(self, df: pd.DataFrame) -> DeepPCA:
        x = df[self._cols(df)].to_numpy(np.float64)
        k = min(self.n_components, *x.shape)
        if k < self.n_components:
            raise ValueError(f"PCA with {self.n_components} components needs at least that many cases and "
                             f"features; got {x.shape}. Fix: use pca={k} or fewer.")
        self.mean_ = x.mean(0)
        _, s, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
        self.components_ = vt[:k]
        var = s**2
        self.explained_variance_ratio_ = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
        return self

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        cols = self._cols(df)
        z = (df[cols].to_numpy(np.float64) - self.mean_) @ self.components_.T
        out = df.drop(columns=cols).copy()
        for i in range(z.shape[1]):
            out[f"deep_pc{i + 1}"] = z[:, i]
        return out
