"""Attribution: one explanation map in the geometry of the volume it explains.

What explain() returns, whatever the method. ``array`` lies on the grid of the Volume that was given
(same shape and affine) so it overlays exactly; ``model_space`` keeps the map on the grid the model
actually saw (after Preprocess), which is where sums such as IG completeness hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medwb.volume import Volume

__all__ = ["Attribution"]


@dataclass(eq=False)
class Attribution:
    """An attribution map plus what produced it.

    Attributes:
        array: float32 map on the explained Volume's grid (shape == volume.shape).
        affine: that grid's affine (index -> LPS mm).
        method: "integrated_gradients", "saliency", "smoothgrad", "gradcam" or "occlusion".
        target: what was explained: a class index, or a description of a region target.
        params: every parameter used (n_steps, baseline, layer, window, batch sizes, ...).
        provenance: library versions, model class and weights hash, input hash, device, time.
        delta: Integrated Gradients' completeness error sum(attr) - (f(x) - f(baseline)) on the
            model grid; None for other methods.
        score: the explained output (logit or probability) at the input.
        baseline_score: the same at the baseline (IG), else None.
        model_space: the map on the model's input grid (a Volume), before mapping back.
        model_input: the preprocessed input the model saw (a Volume on the same grid).

    Example:
        >>> # a = medwb.explain(net, ct, method="integrated_gradients", target=1, preprocess=pp)
        >>> # a.array.shape == ct.shape, a.relative_delta < 0.05
    """

    array: np.ndarray
    affine: np.ndarray
    method: str
    target: Any
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    delta: float | None = None
    score: float | None = None
    baseline_score: float | None = None
    model_space: Volume | None = None
    model_input: Volume | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def volume(self) -> Volume:
        """The map as a medwb Volume on the explained grid (e.g. for save_nifti or a viewer overlay)."""
        return Volume(self.array, self.affine.copy(), "OT",
                      {"attribution": self.method, "target": str(self.target)})

    @property
    def relative_delta(self) -> float | None:
        """|delta| / |f(x) - f(baseline)| for IG (small means the attributions add up); else None."""
        if self.delta is None or self.score is None or self.baseline_score is None:
            return None
        gap = abs(self.score - self.baseline_score)
        return float(abs(self.delta) / gap) if gap > 0 else float("inf")

    def positive(self) -> np.ndarray:
        """The map with negative values set to 0 (evidence *for* the target)."""
        return np.clip(self.array, 0.0, None)

    def normalized(self, percentile: float = 99.5, signed: bool = False) -> np.ndarray:
        """Scaled for display: |map| (or the signed map) divided by its ``percentile``, clipped to [0, 1]
        (or [-1, 1])."""
        a = self.array if signed else np.abs(self.array)
        scale = float(np.percentile(np.abs(a), percentile)) or float(np.abs(a).max()) or 1.0
        return np.clip(a / scale, -1.0 if signed else 0.0, 1.0).astype(np.float32)

    def __repr__(self) -> str:
        extra = f", delta={self.delta:.3g}" if self.delta is not None else ""
        return (f"Attribution({self.method}, target={self.target!r}, shape={self.shape}, "
                f"range=[{float(self.array.min()):.3g}, {float(self.array.max()):.3g}]{extra})")
