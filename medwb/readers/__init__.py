"""Reader studies (MRMC): do readers diagnose better with the model and its explanation than without?

design (who reads what, in which arm, session and order; blinded), store (answers in SQLite or
PostgreSQL through SQLAlchemy, committed one by one; CSV hand-over), mrmc (Obuchowski–Rockette with
jackknife covariances and Hillis's ddf: RRRC, FRRC, RRFC), metrics (AUC, sensitivity/specificity, ROC
curves, reading times), power (Hillis & Berbaum sample size), simulate (Roe & Metz readers) and plots.
Headless: the reading interface is medwb.widgets.ReaderStudy. SQLAlchemy and matplotlib load on use.

Example:
    >>> from medwb import readers
    >>> res = readers.mrmc(readers.simulate_study(n_readers=5, n_cases=80, seed=0))
    >>> res.contrasts.columns.tolist()
    ['estimate', 'se', 'df', 'ci_low', 'ci_high', 'p_value']
"""

from __future__ import annotations

import importlib
from typing import Any

from medwb.readers.design import SCALES, StudyDesign, Task
from medwb.readers.errors import AnswerConflictError, DesignError, RatingsError, ReaderStudyError
from medwb.readers.metrics import empirical_auc, jackknife_auc, operating_points, reading_times, roc_curves
from medwb.readers.mrmc import MRMCResult, mrmc
from medwb.readers.power import PilotComponents, power, power_table, sample_size
from medwb.readers.simulate import simulate_readers, simulate_study

__all__ = [
    "AnswerConflictError", "AnswerStore", "DesignError", "MRMCResult", "PilotComponents", "RatingsError",
    "ReaderStudyError", "SCALES", "StudyDesign", "Task", "empirical_auc", "forest_plot", "jackknife_auc",
    "mrmc", "operating_points", "plot_roc", "power", "power_table", "reading_times", "roc_curves",
    "sample_size", "simulate_readers", "simulate_study",
]

_LAZY = {"AnswerStore": "medwb.readers.store", "forest_plot": "medwb.readers.plots",
         "plot_roc": "medwb.readers.plots"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'medwb.readers' has no attribute {name!r}")
