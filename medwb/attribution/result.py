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
        baseline_input: the reference IG or occlusion compared with (a Volume on the model grid, made
            by medwb.attribution.baselines); None for methods without one.
        region: for a Region target, that Region with its mask on the model grid; else None.
            (deletion_insertion scores the same target, baseline and score with these.)

    Example:
        >>> import torch
        >>> from medwb.models import Preprocess, TeachingNet3D
        >>> from medwb.models.synthetic import synthetic_case
        >>> ct, _ = synthetic_case(1, seed=0, shape=(24, 32, 32))
        >>> _ = torch.manual_seed(0)
        >>> pp = Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(24, 32, 32))
        >>> net = TeachingNet3D(width=4).eval()
        >>> a = medwb.explain(net, ct, method="integrated_gradients", target=1, preprocess=pp)
        >>> a.array.shape == ct.shape, a.array.dtype, a.method, a.params["n_steps"]
        (True, dtype('float32'), 'integrated_gradients', 32)
        >>> a.relative_delta < 0.05, a.model_space.shape
        (True, (24, 32, 32))
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
    baseline_input: Volume | None = None
    region: Any = None

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

    def with_maps(self, array: np.ndarray, model_array: np.ndarray | None = None, *,
                  method: str | None = None) -> Attribution:
        """A copy carrying other maps on the same grids, with no baseline of its own: how a reference map
        (the true lesion mask, the image's brightness, a random map) is scored by the same metrics as a
        real explanation (localisation on ``array``; deletion/insertion on ``model_array``, which
        defaults to ``array`` carried onto the model grid, linearly).

        Example:
            >>> a = Attribution(np.ones((4, 4, 4), np.float32), np.eye(4), "saliency", 1)
            >>> b = a.with_maps(np.zeros((4, 4, 4)), method="zero map")
            >>> b.method, float(b.array.sum()), a.method
            ('zero map', 0.0, 'saliency')
        """
        import dataclasses

        arr = np.asarray(array, np.float32)
        if arr.shape != self.shape:
            raise ValueError(f"array has shape {arr.shape}, the attribution {self.shape}.\n"
                             "Fix: give the map on the explained volume's grid.")
        space = self.model_space
        if space is not None:
            if model_array is None:
                from medwb import transforms

                model_array = transforms.resample_like(self.volume.with_array(arr), space, order=1, fill=0.0,
                                                       dtype=np.float32).array
            space = space.with_array(np.asarray(model_array, np.float32))
        return dataclasses.replace(self, array=arr, model_space=space, method=method or self.method,
                                   baseline_input=None, delta=None, baseline_score=None, params=dict(self.params))

    def positive(self) -> np.ndarray:
        """The map with negative values set to 0 (evidence *for* the target)."""
        return np.clip(self.array, 0.0, None)

    def normalized(self, percentile: float = 99.5, signed: bool | None = False) -> np.ndarray:
        """Scaled for display: |map| (or the signed map) divided by medwb.viz.display_scale (the
        ``percentile`` of |map| over its non-zero voxels, as in every viewer), clipped to [0, 1] (or
        [-1, 1]); ``signed=None`` decides as the viewers do (medwb.viz.display_signed)."""
        from medwb.viz import display_map

        return display_map(self.array, signed=signed, percentile=percentile)

    def __repr__(self) -> str:
        extra = f", delta={self.delta:.3g}" if self.delta is not None else ""
        return (f"Attribution({self.method}, target={self.target!r}, shape={self.shape}, "
                f"range=[{float(self.array.min()):.3g}, {float(self.array.max()):.3g}]{extra})")
