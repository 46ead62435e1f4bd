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

Evaluation can also *remove* voxels without any fixed reference: ``impute`` (ROAD's noisy linear
imputation, Rong et al., ICML 2022) fills each removed voxel with the mean of its six face
neighbours, kept or themselves imputed (a sparse Laplace problem whose boundary values are the kept
voxels), plus a little noise. A removed lesion becomes the surrounding tissue, the removed skull
becomes its surroundings, and the filled-in values carry no trace of the removed region's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medwb.volume import Volume

__all__ = ["BASELINES", "IN_DISTRIBUTION", "make_baseline", "impute", "face_adjacency"]

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


def face_adjacency(shape: tuple[int, ...]) -> Any:
    """The symmetric 0/1 adjacency of a grid's voxels (face neighbours), CSR."""
    from scipy import sparse

    idx = np.arange(int(np.prod(shape))).reshape(shape)
    rows, cols = [], []
    for axis in range(len(shape)):
        a = np.moveaxis(idx, axis, 0)
        rows.append(a[1:].reshape(-1))
        cols.append(a[:-1].reshape(-1))
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = idx.size
    adj = sparse.coo_matrix((np.ones(r.size, np.float64), (r, c)), shape=(n, n))
    return (adj + adj.T).tocsr()


def impute(x: np.ndarray, removed: np.ndarray, *, noise: float = 0.01, seed: int = 0,
           anchor: float = 1e-3, tol: float = 1e-3, adjacency: Any = None,
           x0: np.ndarray | None = None) -> np.ndarray:
    """``x`` with the ``removed`` voxels replaced by noisy linear imputation (ROAD), any dimension.

    Each removed voxel is the mean of its face neighbours (kept ones at their values, removed ones
    imputed too): the sparse linear system ``(D + anchor) x_R - A_RR x_R = A_RK x_K + anchor m``
    (D the neighbour count, m the mean of the kept voxels, or of ``x`` when none is kept, which is
    all that a region without a kept voxel can become), solved by conjugate gradients
    (scipy.sparse.linalg.cg). Then Gaussian noise with σ = ``noise`` × the spread (99th - 1st
    percentile) of ``x`` is added to the imputed voxels.

    Args:
        x: the image (the model's input).
        removed: bool, same shape: the voxels to replace.
        noise: the noise σ as a fraction of x's intensity spread (0: none).
        seed: of the noise.
        anchor: the weight pulling each imputed voxel towards m (keeps the system solvable).
        tol: relative tolerance of the solver.
        adjacency: the grid's adjacency (from a previous call on this shape), to save building it.
        x0: a starting guess on x's grid (default: a Gaussian-weighted mean of the kept voxels).

    Example:
        >>> x = np.zeros((5, 5, 5), np.float32); x[:, :, 3:] = 1.0   # two tissues
        >>> removed = np.zeros(x.shape, bool); removed[2, 2, 2] = removed[2, 2, 3] = True
        >>> y = impute(x, removed, noise=0.0)
        >>> round(float(y[2, 2, 2]), 2), round(float(y[2, 2, 3]), 2)  # from their kept neighbours
        (0.14, 0.86)
        >>> bool(np.array_equal(y[~removed], x[~removed]))
        True
    """
    from scipy import sparse
    from scipy.sparse.linalg import cg

    x = np.asarray(x, np.float32)
    removed = np.asarray(removed, bool)
    if removed.shape != x.shape:
        raise ValueError(f"removed has shape {removed.shape}, the image {x.shape}.\n"
                         "Fix: give a boolean mask on the image's grid.")
    out = x.copy()
    r = np.flatnonzero(removed)
    if r.size == 0:
        return out
    adj = adjacency if adjacency is not None else face_adjacency(x.shape)
    flat = x.reshape(-1).astype(np.float64)
    kept = ~removed.reshape(-1)
    m = float(flat[kept].mean()) if kept.any() else float(flat.mean())
    rows = adj[r]
    a_rr = rows[:, r]
    b = rows @ np.where(kept, flat, 0.0) + anchor * m
    diag = np.asarray(rows.sum(axis=1)).reshape(-1) + anchor
    system = (sparse.diags(diag) - a_rr).tocsr()
    pre = sparse.diags(1.0 / diag)
    if x0 is None:  # normalised convolution of the kept voxels: close to the solution, fewer iterations
        from scipy.ndimage import gaussian_filter

        k = kept.reshape(x.shape).astype(np.float64)
        num, den = gaussian_filter(np.where(k > 0, x, 0.0), 3.0), gaussian_filter(k, 3.0)
        x0 = np.where(den > 1e-6, num / np.maximum(den, 1e-6), m)
    start = np.asarray(x0, np.float64).reshape(-1)[r]
    try:  # small vectors: multi-threaded BLAS only adds contention (5-8x slower on a busy machine)
        from threadpoolctl import threadpool_limits

        limit: Any = threadpool_limits(1)
    except ImportError:  # pragma: no cover - comes with scikit-learn
        from contextlib import nullcontext

        limit = nullcontext()
    with limit:
        sol, _ = cg(system, b, x0=start, rtol=tol, maxiter=2000, M=pre)
    if noise > 0:
        lo, hi = np.percentile(flat, [1, 99])
        sol = sol + np.random.default_rng(seed).normal(0.0, noise * max(float(hi - lo), 1e-12), r.size)
    out.reshape(-1)[r] = sol.astype(np.float32)
    return out
