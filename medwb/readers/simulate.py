"""Simulated reader studies (Roe & Metz 1997), seeded and labelled as simulated: for teaching the
analysis, testing it, and standing in for people in CI and on Binder.

Roe & Metz model: reader j's decision variable for case k in arm i is
    X_ijk = μ_i·D_k + R_j + C_k + (τR)_ij + (τC)_ik + (RC)_jk + E_ijk,
D_k = 1 for diseased cases; the random effects are independent normals with variances var_r, var_c,
var_tr, var_tc, var_rc, var_e, drawn separately for diseased and non-diseased cases (so readers differ in
accuracy, not only in their thresholds). A reader's expected AUC in arm i is about
Φ(μ_i / sqrt(2·(var_c + var_tc + var_rc + var_e + var_r + var_tr))), which is how ``auc=`` sets μ_i.
Every table made here says so: reader ids start with "sim-", ``df.attrs["simulated"]`` is True and a
``source`` column reads "simulated (Roe & Metz)".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medwb.readers.design import SCALES, StudyDesign

__all__ = ["simulate_study", "simulate_readers", "roe_metz_scores", "SOURCE"]

SOURCE = "simulated (Roe & Metz)"
_DEFAULT = {"var_r": 0.011, "var_tr": 0.011, "var_c": 0.3, "var_tc": 0.3, "var_rc": 0.2, "var_e": 0.2}


def _mu(auc: Sequence[float], comps: dict[str, float]) -> np.ndarray:
    from scipy.stats import norm

    total = 2 * sum(comps.values())
    return norm.ppf(np.asarray(auc, float)) * np.sqrt(total)


def roe_metz_scores(truth: np.ndarray, n_readers: int, mu: Sequence[float], rng: np.random.Generator,
                    **components: float) -> np.ndarray:
    """Continuous decision variables ``[arm, reader, case]`` under the Roe & Metz model."""
    comps = {**_DEFAULT, **components}
    truth = np.asarray(truth, bool)
    n_arms, n_cases = len(mu), len(truth)
    sd = {k: np.sqrt(v) for k, v in comps.items()}
    x = np.zeros((n_arms, n_readers, n_cases))
    for label in (False, True):  # independent effects for each truth state, as in Roe & Metz
        k = truth == label
        nk = int(k.sum())
        x[:, :, k] = (rng.normal(0, sd["var_r"], (1, n_readers, 1))
                      + rng.normal(0, sd["var_c"], (1, 1, nk))
                      + rng.normal(0, sd["var_tr"], (n_arms, n_readers, 1))
                      + rng.normal(0, sd["var_tc"], (n_arms, 1, nk))
                      + rng.normal(0, sd["var_rc"], (1, n_readers, nk))
                      + rng.normal(0, sd["var_e"], (n_arms, n_readers, nk)))
    return x + np.asarray(mu, float)[:, None, None] * truth[None, None, :]


def _to_scale(x: np.ndarray, scale: str) -> np.ndarray:
    """Map decision variables to a rating scale: "continuous", "1-5" (four cut points at fixed quantiles
    of all values) or "0-100" (a normal CDF of the standardised value, rounded)."""
    from scipy.stats import norm

    if scale == "continuous":
        return x
    if scale == "1-5":
        cuts = np.quantile(x, [0.35, 0.5, 0.65, 0.8])
        return 1.0 + np.searchsorted(cuts, x, side="right").astype(float)
    if scale == "0-100":
        return np.round(100 * norm.cdf((x - x.mean()) / x.std()))
    raise ValueError(f"scale is {scale!r}. Fix: use 'continuous' or one of {list(SCALES)}.")


def simulate_study(n_readers: int = 5, n_cases: int = 100, prevalence: float = 0.4,
                   arms: Sequence[str] = ("image", "image+AI"), auc: Sequence[float] = (0.80, 0.86), *,
                   scale: str = "continuous", seed: int = 0, seconds: Sequence[float] = (20.0, 24.0),
                   **components: float) -> pd.DataFrame:
    """A simulated, fully crossed study as a long table: reader, modality, case, truth, rating, seconds,
    source (one row per reader × arm × case).

    Args:
        n_readers, n_cases: size; ``prevalence`` the fraction of diseased cases.
        arms, auc: the arms and each arm's expected reader AUC.
        scale: "continuous", "1-5" or "0-100".
        seed: the random seed (same seed, same study).
        seconds: median reading time per arm (log-normal, 40% spread).
        components: Roe & Metz variances (var_r, var_c, var_tr, var_tc, var_rc, var_e) to override.

    Example:
        >>> df = simulate_study(n_readers=3, n_cases=20, seed=4)
        >>> df.shape, df.attrs["simulated"], df.reader.iloc[0]
        ((120, 7), True, 'sim-reader-01')
    """
    if len(auc) != len(arms):
        raise ValueError(f"auc has {len(auc)} values for {len(arms)} arms. Fix: give one AUC per arm.")
    rng = np.random.default_rng(seed)
    n_pos = max(2, min(n_cases - 2, round(prevalence * n_cases)))
    truth = np.zeros(n_cases, bool)
    truth[rng.choice(n_cases, n_pos, replace=False)] = True
    comps = {**_DEFAULT, **components}
    x = _to_scale(roe_metz_scores(truth, n_readers, _mu(auc, comps), rng, **comps), scale)
    readers = [f"sim-reader-{j + 1:02d}" for j in range(n_readers)]
    cases = [f"sim-case-{k + 1:03d}" for k in range(n_cases)]
    a, r, c = np.meshgrid(np.arange(len(arms)), np.arange(n_readers), np.arange(n_cases), indexing="ij")
    med = np.asarray(seconds, float)[a.ravel() % len(seconds)]
    df = pd.DataFrame({"reader": np.array(readers)[r.ravel()], "modality": np.array(arms)[a.ravel()],
                       "case": np.array(cases)[c.ravel()], "truth": truth[c.ravel()].astype(int),
                       "rating": x.ravel(), "seconds": np.round(med * rng.lognormal(0, 0.4, med.size), 1),
                       "source": SOURCE})
    df.attrs["simulated"] = True
    df.attrs["model"] = {"auc": list(auc), "seed": seed, **comps}
    return df


def simulate_readers(design: StudyDesign, store: Any, readers: Sequence[str] | None = None,
                     auc: Sequence[float] | None = None, seed: int = 0, seconds: Sequence[float] = (20.0, 24.0),
                     **components: float) -> int:
    """Answer every task of ``readers`` (default: all of the design's readers) in ``store`` with simulated
    ratings on the design's scale; the design's own truth drives the Roe & Metz model. Returns the
    number of answers written (answers already stored are kept). Use simulated reader ids ("sim-...")
    so that simulated answers are never mistaken for real ones.

    Example:
        >>> from medwb.readers.store import AnswerStore
        >>> d = StudyDesign("sim", cases=list("abcdef"), truth=dict(zip("abcdef", [0, 1] * 3)),
        ...                 readers=["sim-1", "sim-2"])
        >>> store = AnswerStore("sqlite://")  # in memory
        >>> _ = store.save_design(d)
        >>> simulate_readers(d, store, seed=1)
        24
    """
    readers = list(design.readers if readers is None else readers)
    for r in readers:
        design.check_reader(r)
    auc = auc if auc is not None else np.linspace(0.80, 0.86, len(design.arms))
    rng = np.random.default_rng([seed, 7])
    comps = {**_DEFAULT, **components}
    truth = np.array([int(design.truth[c]) == 1 for c in design.cases])
    x = _to_scale(roe_metz_scores(truth, len(readers), _mu(auc, comps), rng, **comps), design.scale)
    case_index = {c: k for k, c in enumerate(design.cases)}
    rows = []
    for j, reader in enumerate(readers):
        for t in design.all_tasks(reader):
            i = design.arms.index(t.arm)
            med = seconds[i % len(seconds)]
            rows.append({"reader": reader, "session": t.session, "position": t.position, "case": t.case,
                         "modality": t.arm, "rating": float(x[i, j, case_index[t.case]]),
                         "seconds": round(float(med * rng.lognormal(0, 0.4)), 1)})
    return store.record_many(design.name, rows)
