"""Reference inputs ("baselines") for attribution methods and their evaluation: the one home.

Integrated Gradients and occlusion compare the input with a reference; deletion/insertion curves
replace voxels by a reference. All of them build it here, from the same names, so a baseline means
the same thing wherever it is used:

* "zeros": 0 on the model's scale (air after a CT window: *out of distribution* for a CT model,
  whose inputs never hold a blank hole inside the head);
* "air": −1000 HU carried through the preprocessing (−1000 raw without one): also out of distribution;
* "blurred": a Gaussian blur of the model input (σ = ``blur_sigma`` model voxels). It keeps the
  anatomy's low frequencies (the head, its brightness) and removes the lesion's texture: the
  in-distribution reference the evaluation uses by default;
* a number, an array (model grid or the explained volume's grid) or a Volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medwb.volume import Volume

__all__ = ["BASELINES", "IN_DISTRIBUTION", "make_baseline"]

#: the named baselines
BASELINES = ("zeros", "air", "blurred")
#: the default in-distribution baseline of the evaluation metrics (deletion/insertion)
IN_DISTRIBUTION = "blurred"


def make_baseline(baseline: Any, volume: Volume, model_input: Volume, preprocess: Any = None,
                  blur_sigma: float = 4.0) -> np.ndarray:
    """The reference on the model's grid (float32, ``model_input``'s shape).

    Args:
        baseline: "zeros", "air", "blurred", a number, an array (on the model grid, or on the
            explained volume's grid when ``preprocess`` is given) or a Volume.
        volume: the explained Volume (its grid; only "air" and volume-grid arrays use it).
        model_input: what the model sees (``preprocess(volume)``, or the volume itself).
        preprocess: the model's Preprocess, or None when the volume is model-ready.
        blur_sigma: σ of "blurred" in model voxels.

    Example:
        >>> x = Volume.from_geometry(np.arange(64, dtype=np.float32).reshape(4, 4, 4), spacing=1.0)
        >>> float(make_baseline("zeros", x, x).max()), float(make_baseline("air", x, x).max())
        (0.0, -1000.0)
        >>> b = make_baseline("blurred", x, x, blur_sigma=1.0)
        >>> b.shape, round(float(b.mean()), 1) == round(float(x.array.mean()), 1)   # same brightness
        ((4, 4, 4), True)
    """
    x = model_input.array
    if isinstance(baseline, str):
        if baseline == "zeros":
            return np.zeros(x.shape, np.float32)
        if baseline == "air":
            if preprocess is None:
                return np.full(x.shape, -1000.0, np.float32)
            air = np.full(volume.shape, -1000.0, np.float32)
            return np.asarray(preprocess(volume.with_array(air)).array, np.float32)
        if baseline == "blurred":
            from scipy.ndimage import gaussian_filter

            return gaussian_filter(np.asarray(x, np.float32), sigma=blur_sigma).astype(np.float32)
        raise ValueError(f"baseline is {baseline!r}, which is not a baseline.\n"
                         f"Fix: use one of {', '.join(map(repr, BASELINES))}, a number, an array or a Volume.")
    if isinstance(baseline, (int, float, np.integer, np.floating)) and not isinstance(baseline, bool):
        return np.full(x.shape, float(baseline), np.float32)
    if isinstance(baseline, Volume):
        if baseline.same_grid(model_input):
            return np.array(baseline.array, np.float32)
        if preprocess is not None:
            return np.asarray(preprocess(baseline).array, np.float32)
        raise ValueError(
            f"the baseline Volume (shape {baseline.shape}) is not on the model's input grid {model_input.shape}.\n"
            "Fix: pass preprocess= so it is carried onto that grid, or give it on the model's grid.")
    arr = np.asarray(baseline, dtype=np.float32)
    if arr.shape == x.shape:
        return np.array(arr, np.float32)
    if preprocess is not None and arr.shape == volume.shape:
        return np.asarray(preprocess(volume.with_array(arr)).array, np.float32)
    raise ValueError(
        f"baseline shape {arr.shape} fits neither the model input {x.shape} nor the volume {volume.shape}.\n"
        "Fix: give the baseline on one of those grids (or as a Volume with preprocess=)."
    )
