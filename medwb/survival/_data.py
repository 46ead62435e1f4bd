"""Check and prepare a survival table before any model sees it.

Every row or column removed, and every value imputed, is written to a ``DataReport`` so nothing
is dropped silently. Used by km, cox, validation and added_value; not a public module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SurvivalDataError", "DataReport", "prepare", "positional", "relabel"]


class SurvivalDataError(ValueError):
    """A survival table that no model can be fitted to as it stands."""


@dataclass
class DataReport:
    """What ``prepare`` did to the table: rows dropped, values imputed, columns removed."""

    n_input: int = 0
    n_used: int = 0
    n_events: int = 0
    dropped_rows: dict[str, list] = field(default_factory=dict)  # reason -> row labels
    imputed: dict[str, tuple[int, float]] = field(default_factory=dict)  # column -> (count, value)
    dropped_columns: dict[str, str] = field(default_factory=dict)  # column -> reason
    notes: list[str] = field(default_factory=list)  # conversions and other things done to the table

    def __str__(self) -> str:
        lines = [f"{self.n_used} of {self.n_input} rows used, {self.n_events} events", *self.notes]
        for reason, rows in self.dropped_rows.items():
            lines.append(f"dropped {len(rows)} rows ({reason}): {rows[:8]}{' ...' if len(rows) > 8 else ''}")
        for col, (k, v) in self.imputed.items():
            lines.append(f"imputed {k} missing values of {col!r} with the median {v:g}")
        for col, reason in self.dropped_columns.items():
            lines.append(f"dropped column {col!r}: {reason}")
        return "\n".join(lines)


def _check_columns(df: pd.DataFrame, cols: Sequence[str]) -> None:
    present = set(df.columns)
    missing = [c for c in cols if c not in present]
    if missing:
        raise SurvivalDataError(
            f"column(s) {missing} are not in the table. Columns it has: {list(df.columns)[:30]}.\n"
            "Fix: pass the names exactly as they appear in df.columns."
        )
    if not df.columns.is_unique:
        wanted = set(cols)
        twice = sorted({str(c) for c in df.columns[df.columns.duplicated()] if c in wanted})
        if twice:
            raise SurvivalDataError(
                f"the table has more than one column named {twice} (e.g. after pd.concat(..., axis=1)).\n"
                "Fix: rename or drop the copies, e.g. df.loc[:, ~df.columns.duplicated()]."
            )


def positional(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index | None]:
    """(``df``, None) when its index labels are unique, else (``df`` indexed 0..n-1, its original index).

    Tables joined from several sites (``pd.concat``) repeat index labels, and label-based selection
    would then duplicate rows. The survival functions work on positions in that case and map them back
    to the original labels in what they return (``relabel``).

    Example:
        >>> d, labels = positional(pd.DataFrame({"t": [1, 2]}, index=["a", "a"]))
        >>> d.index.tolist(), labels.tolist()
        ([0, 1], ['a', 'a'])
    """
    if df.index.is_unique:
        return df, None
    return df.reset_index(drop=True), df.index


def relabel(report: DataReport, labels: pd.Index | None) -> DataReport:
    """The report with dropped-row positions replaced by the original labels (see ``positional``)."""
    if labels is not None:
        report.dropped_rows = {k: labels[list(v)].tolist() for k, v in report.dropped_rows.items()}
    return report


def _as_days(t: pd.Series, col: str, rep: DataReport) -> pd.Series:
    """Timedelta durations in days (float); numbers as they are."""
    if pd.api.types.is_timedelta64_dtype(t):
        rep.notes.append(f"{col!r} was a timedelta: converted to days")
        return t.dt.total_seconds() / 86400.0
    return pd.to_numeric(t, errors="coerce")


def prepare(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str] = (),
    missing: str = "raise",
    constant: str = "raise",
) -> tuple[pd.DataFrame, DataReport]:
    """Validate a survival table and return (clean copy, report).

    Args:
        df: one row per case.
        duration_col: follow-up time, strictly positive.
        event_col: 1 = event observed, 0 = censored (booleans accepted).
        covariates: numeric columns to keep; booleans become 0/1.
        missing: NaN policy for covariates: "raise", "drop" (rows) or "impute" (column median).
        constant: constant covariates: "raise" or "drop" (column; reported).

    Durations may be numbers or timedeltas (converted to days, and the report says so).

    Example:
        >>> import pandas as pd
        >>> d = pd.DataFrame({"t": [1, 2, 3], "e": [1, 0, 1], "x": [0.5, None, 1.5]})
        >>> clean, rep = prepare(d, "t", "e", ["x"], missing="impute")
        >>> clean["x"].tolist(), rep.imputed
        ([0.5, 1.0, 1.5], {'x': (1, 1.0)})
    """
    if missing not in ("raise", "drop", "impute"):
        raise SurvivalDataError(f"missing={missing!r} is not a policy. Fix: use 'raise', 'drop' or 'impute'.")
    covariates = list(covariates)
    from collections import Counter

    dup = sorted(str(c) for c, k in Counter(covariates).items() if k > 1)
    if dup:
        raise SurvivalDataError(f"covariates listed twice: {dup}. Fix: list each column once.")
    if duration_col in covariates or event_col in covariates:
        raise SurvivalDataError(
            f"the duration/event columns ({duration_col!r}, {event_col!r}) cannot also be covariates."
        )
    _check_columns(df, [duration_col, event_col, *covariates])
    rep = DataReport(n_input=len(df))
    out = df[[duration_col, event_col]].copy()  # covariates join as one float block below

    for col in (duration_col, event_col):
        if out[col].isna().any():
            bad = out.index[out[col].isna()].tolist()
            raise SurvivalDataError(
                f"{col!r} is missing for rows {bad[:10]}. Outcomes are never imputed.\n"
                f"Fix: remove those cases explicitly (df.dropna(subset=[{col!r}])) and report it."
            )
    t = _as_days(out[duration_col], duration_col, rep)
    if t.isna().any():
        bad = out.loc[t.isna(), duration_col].tolist()[:5]
        raise SurvivalDataError(f"{duration_col!r} has non-numeric values such as {bad}. Fix: convert to days.")
    if (t <= 0).any():
        bad = out.index[t <= 0].tolist()
        raise SurvivalDataError(
            f"{duration_col!r} must be > 0; rows {bad[:10]} have {t[t <= 0].tolist()[:10]}.\n"
            "Fix: a time of 0 usually means an event on the day of imaging: use a small positive value "
            "(e.g. 0.5 day) deliberately, or check the date arithmetic for negative times."
        )
    e = out[event_col]
    if e.dtype == bool:
        e = e.astype(int)
    e = pd.to_numeric(e, errors="coerce")
    if not e.isin([0, 1]).all():
        vals = sorted(pd.unique(out[event_col].astype(str)))[:6]
        raise SurvivalDataError(
            f"{event_col!r} must be 0 (censored) or 1 (event); found {vals}.\n"
            "Fix: recode, e.g. R's survival lung data codes status 1/2: use status - 1."
        )
    out[duration_col] = t.astype(float)
    out[event_col] = e.astype(int)

    dtypes = df.dtypes
    for col in covariates:  # dtypes only: cheap at any p
        dtype = dtypes[col]
        if not (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)):
            s = df[col]
            raise SurvivalDataError(
                f"covariate {col!r} is not numeric (dtype {s.dtype}, e.g. {s.dropna().iloc[:3].tolist()}).\n"
                f"Fix: encode it, e.g. pd.get_dummies(df, columns=[{col!r}], drop_first=True, dtype=float)."
            )
    if covariates:
        block = df[covariates].to_numpy(dtype=np.float64)
        inf_cols = [covariates[j] for j in np.flatnonzero(np.isinf(block).any(axis=0))]
        if inf_cols:
            raise SurvivalDataError(f"covariates {inf_cols[:10]} have infinite values. Fix: replace them or drop the rows.")
        out = pd.concat([out, pd.DataFrame(block, index=out.index, columns=covariates)],
                        axis=1)

    nan_cols = [covariates[j] for j in np.flatnonzero(np.isnan(block).any(axis=0))] if covariates else []
    if nan_cols:
        counts = {c: int(out[c].isna().sum()) for c in nan_cols}
        if missing == "raise":
            raise SurvivalDataError(
                f"missing values in covariates {counts}.\n"
                "Fix: choose a policy: missing='drop' (complete cases) or missing='impute' (median); "
                "either is reported in result.data_report."
            )
        if missing == "drop":
            mask = out[nan_cols].isna().any(axis=1)
            rep.dropped_rows["missing covariate"] = out.index[mask].tolist()
            out = out.loc[~mask]
        else:
            for c in nan_cols:
                med = float(out[c].median())
                if np.isnan(med):
                    raise SurvivalDataError(f"covariate {c!r} is entirely missing. Fix: leave it out.")
                rep.imputed[c] = (counts[c], med)
                out[c] = out[c].fillna(med)

    if covariates:
        vals = out[covariates].to_numpy() if nan_cols else block
        const = [covariates[j] for j in np.flatnonzero(np.all(vals == vals[:1], axis=0))] if len(out) else covariates
    else:
        const = []
    if const and constant != "drop":
        c = const[0]
        raise SurvivalDataError(
            f"covariate {c!r} is constant ({out[c].iloc[0] if len(out) else 'no rows'}): "
            "its hazard ratio cannot be estimated.\n"
            "Fix: leave it out, or pass constant='drop' to drop such columns with a report."
        )
    if const:
        for c in const:
            rep.dropped_columns[c] = f"constant ({out[c].iloc[0] if len(out) else 'empty'})"
        out = out.drop(columns=const)
    if len(out) == 0:
        raise SurvivalDataError("no rows left after handling missing values. Fix: use missing='impute'.")
    rep.n_used = len(out)
    rep.n_events = int(out[event_col].sum())
    if rep.n_events == 0:
        raise SurvivalDataError(
            f"all {len(out)} cases are censored ({event_col!r} is 0 everywhere): no survival model can be "
            "fitted.\nFix: check the event coding (1 = event), or follow the cohort longer."
        )
    return out, rep
