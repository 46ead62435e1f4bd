"""PipelineResult: the tables of a pipeline run and lazy access to the arrays it wrote to disk.

A run folder holds ``results.csv`` (one row per case: prediction, attribution summary, features,
provenance columns, paths), ``failures.csv`` (case id, step, error), ``run.json`` (the run's
parameters and provenance), ``cases/<id>.json`` (one provenance sidecar per case),
``attributions/<id>.npy`` and ``preprocessed/<id>.npy``. Arrays are read only when asked for
(memory-mapped), so a result of thousands of cases costs a table's worth of memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medwb.provenance import read_sidecar, render
from medwb.volume import Volume

__all__ = ["PipelineResult", "FAILURE_COLUMNS"]

FAILURE_COLUMNS = ["case_id", "step", "error_type", "error", "traceback"]


@dataclass
class PipelineResult:
    """What run_pipeline returns (and PipelineResult.load reopens).

    Attributes:
        results: one row per case, in cohort order; ``status`` is "ok" or "failed".
        failures: one row per failed case: case_id, step, error_type, error, traceback.
        out_dir: the run folder; the ``*_path`` columns are relative to it.
        run: the run's parameters, model identity, versions and timing (run.json).

    Example:
        >>> from medwb.models import TeachingNet3D
        >>> from medwb.pipeline import run_pipeline
        >>> cohort = medwb.demo.load_cohort()
        >>> res = run_pipeline(cohort, TeachingNet3D(width=4), out_dir=tmp_path / "run", steps=("load",),
        ...                    case_ids=cohort.case_ids[:2], progress=False)
        >>> res.results["status"].tolist(), res.failures.columns.tolist()
        (['ok', 'ok'], ['case_id', 'step', 'error_type', 'error', 'traceback'])
        >>> PipelineResult.load(tmp_path / "run").results["case_id"].tolist()  # reopened from the folder
        ['case-000', 'case-001']
    """

    results: pd.DataFrame
    failures: pd.DataFrame
    out_dir: Path
    run: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, out_dir: str | Path) -> PipelineResult:
        """Reopen a finished run folder."""
        out = Path(out_dir)
        if not (out / "results.csv").exists():
            raise FileNotFoundError(f"{out} has no results.csv.\nFix: pass the out_dir of a finished run_pipeline.")
        results = pd.read_csv(out / "results.csv", dtype={"case_id": str}, float_precision="round_trip")
        failures = (pd.read_csv(out / "failures.csv", dtype={"case_id": str})
                    if (out / "failures.csv").exists() else pd.DataFrame(columns=FAILURE_COLUMNS))
        run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
        return cls(results, failures, out, run)

    @property
    def ok(self) -> pd.DataFrame:
        """The rows of cases that completed every step."""
        return self.results[self.results["status"] == "ok"]

    def _row(self, case_id: str) -> pd.Series:
        hit = self.results[self.results["case_id"] == str(case_id)]
        if hit.empty:
            raise KeyError(f"no case {case_id!r} in this run; first ids: {self.results['case_id'].head(5).tolist()}")
        return hit.iloc[0]

    def _path(self, case_id: str, column: str, what: str) -> Path:
        row = self._row(case_id)
        rel = row.get(column)
        if rel is None or (isinstance(rel, float) and np.isnan(rel)):
            why = (f"it failed at step {row.get('failed_step')!r}: {row.get('error')}"
                   if row.get("status") == "failed" else f"the run did not save {what}s (see save=...)")
            raise KeyError(f"case {case_id!r} has no {what}: {why}")
        return self.out_dir / str(rel)

    def attribution(self, case_id: str, mmap: bool = True) -> np.ndarray:
        """The attribution map of a case on its image grid (float32, memory-mapped by default)."""
        return np.load(self._path(case_id, "attribution_path", "attribution"), mmap_mode="r" if mmap else None)

    def attribution_volume(self, case_id: str) -> Volume:
        """The attribution map as a Volume with the image's affine (for overlays and NIfTI export)."""
        prov = self.provenance(case_id)
        arr = np.asarray(self.attribution(case_id, mmap=False))
        return Volume(arr, np.asarray(prov["extra"]["image_affine"]), "OT",
                      {"attribution": self.run.get("params", {}).get("explain_method"), "case_id": str(case_id)})

    def preprocessed(self, case_id: str) -> Volume:
        """The model input of a case (after Preprocess) as a Volume with its own affine."""
        arr = np.load(self._path(case_id, "preprocessed_path", "preprocessed volume"))
        prov = self.provenance(case_id)
        return Volume(arr, np.asarray(prov["extra"]["model_input_affine"]), "OT", {"case_id": str(case_id)})

    def provenance(self, case_id: str) -> dict[str, Any]:
        """The full provenance record of a case (from its JSON sidecar)."""
        return read_sidecar(self._path(case_id, "provenance_path", "provenance sidecar"))

    def describe(self, case_id: str) -> str:
        """A short text of where a case's results came from (data, model, run, versions)."""
        return str(render(self.provenance(case_id)))

    def __repr__(self) -> str:
        n, bad = len(self.results), len(self.failures)
        steps = ",".join(self.run.get("params", {}).get("steps", []))
        took = self.run.get("wall_s")
        return (f"PipelineResult({n - bad}/{n} cases ok, {bad} failed; steps {steps}"
                + (f"; {took:.1f} s" if isinstance(took, (int, float)) else "") + f"; out_dir={str(self.out_dir)!r})")
