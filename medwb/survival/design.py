"""The Cox design frame: the numeric covariates a Cox model is fitted on, from a clinical table.

Categorical (text or pandas Categorical) columns are one-hot encoded with their first level dropped
(the reference level: alphabetically first for text, the first category for a Categorical); booleans
become 0/1; anything else, numbers stored as Python objects included, is converted to numbers
(missing values become NaN, which fit_cox then reports). The SurvivalExplorer widget, scripts and pipeline workers build their designs
here, so a covariate gets the same name (e.g. ``sex_M``) everywhere, the name medwb.demo.TRUTH_NAMES
maps to the demo's true hazard ratios.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["design_frame"]

#: pandas.api.types.infer_dtype kinds of an object column that holds numbers (kept numeric, not one-hot)
_NUMERIC_KINDS = ("integer", "floating", "mixed-integer-float", "decimal", "empty")


def design_frame(table: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """(numeric design DataFrame on ``table``'s index, its column names) for ``columns`` of ``table``.

    Example:
        >>> df, cols = design_frame(pd.DataFrame({"sex": ["M", "F", "M"], "age": [60, 70, 80]}), ["sex", "age"])
        >>> cols, df["sex_M"].tolist()
        (['sex_M', 'age'], [1.0, 0.0, 1.0])
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"covariate(s) {missing} are not in the table. Columns it has: {list(table.columns)[:30]}.\n"
                       "Fix: pass the names exactly as they appear in table.columns.")
    out = pd.DataFrame(index=table.index)
    names: list[str] = []
    for c in columns:
        col = table[c]
        if col.dtype == bool:
            out[c] = col.astype(float)
            names.append(c)
        elif isinstance(col.dtype, pd.CategoricalDtype) or (
                (col.dtype == object or pd.api.types.is_string_dtype(col))
                and pd.api.types.infer_dtype(col, skipna=True) not in _NUMERIC_KINDS):
            dummies = pd.get_dummies(col, prefix=c, drop_first=True, dtype=float)
            out = out.join(dummies)
            names += list(dummies.columns)
        else:
            out[c] = pd.to_numeric(col, errors="coerce")
            names.append(c)
    return out, names
