"""Cohort: a table of cases, their images (loaded lazily) and their outcomes.

One row per case. Reserved columns: ``case_id`` (required, unique), ``image`` (a DICOM series folder,
a DICOM file or a NIfTI file, relative to ``root``), ``mask`` (a label volume on the image grid),
``label`` (diagnosis, 0/1), ``time`` and ``event`` (survival outcome). Every other column is clinical
data and travels with the case.

Volumes and masks are loaded on first use and kept in a small LRU cache; what ``volume()`` and
``mask()`` hand out shares the cached voxels read-only (copy before editing).

Problems that do not make the table ambiguous (an image that is not there, a negative survival time)
are collected in ``Cohort.problems`` and the rest of the cohort stays usable; duplicate case ids do make
it ambiguous and raise.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medwb.volume import Volume

__all__ = ["Cohort", "CohortError", "CohortWarning", "RESERVED_COLUMNS"]

RESERVED_COLUMNS = ("case_id", "image", "mask", "label", "time", "event")
_PROBLEM_COLUMNS = ["case_id", "column", "value", "problem", "fix"]


class CohortError(ValueError):
    """The case table cannot be used as given."""


class CohortWarning(UserWarning):
    """Some cases have problems; they are listed in Cohort.problems."""


class Cohort:
    """Cases with lazily loaded volumes and their clinical data and outcomes.

    Args:
        table: one row per case; must have a ``case_id`` column (see the module docstring).
        root: folder that relative ``image`` / ``mask`` paths are relative to.
        cache_size: how many loaded volumes (images and masks together) to keep in memory.
        ground_truth: known truth for simulated cohorts (the demo's lesions and hazard ratios).

    Example:
        >>> import pandas as pd
        >>> c = Cohort(pd.DataFrame({"case_id": ["a", "b"], "time": [10.0, -1.0], "event": [1, 0]}))
        >>> len(c), c.case_ids
        (2, ['a', 'b'])
        >>> c.problems[["case_id", "column", "problem"]].values.tolist()
        [['b', 'time', 'survival time must be positive']]
    """

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path | None = None,
        *,
        cache_size: int = 8,
        ground_truth: dict[str, Any] | None = None,
        warn: bool = True,
    ) -> None:
        if "case_id" not in table.columns:
            raise CohortError(
                f"a cohort table needs a 'case_id' column; it has {list(table.columns)}.\n"
                "Fix: rename your identifier column, e.g. table.rename(columns={'PatientID': 'case_id'})."
            )
        table = table.reset_index(drop=True).copy()
        table["case_id"] = table["case_id"].astype(str)
        dup = table["case_id"][table["case_id"].duplicated(keep=False)].unique().tolist()
        if dup:
            raise CohortError(
                f"case ids must be unique; these occur more than once: {dup[:10]}"
                f"{' ...' if len(dup) > 10 else ''}.\n"
                "Fix: drop or merge the duplicated rows, or build unique ids (e.g. patient + study date)."
            )
        self.table = table
        self.root = Path(root) if root is not None else None
        self.ground_truth: dict[str, Any] = ground_truth or {}
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[tuple[str, str], Volume] = OrderedDict()
        self._index = {cid: i for i, cid in enumerate(table["case_id"])}
        self.problems = self.validate()
        if warn and len(self.problems):
            warnings.warn(
                f"{len(self.problems)} problem(s) in {self.problems['case_id'].nunique()} case(s); "
                "see Cohort.problems. First: "
                f"{self.problems.iloc[0]['case_id']}: {self.problems.iloc[0]['problem']}",
                CohortWarning,
                stacklevel=2,
            )

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest: str | Path | pd.DataFrame, root: str | Path | None = None,
                      **kwargs: Any) -> Cohort:
        """Read a manifest CSV (or take a DataFrame). Paths are relative to the CSV's folder.

        A ``ground_truth.json`` beside the CSV is loaded into ``cohort.ground_truth``.
        """
        if isinstance(manifest, pd.DataFrame):
            return cls(manifest, root=root, **kwargs)
        path = Path(manifest)
        if path.is_dir():
            path = path / "manifest.csv"
        if not path.exists():
            raise FileNotFoundError(
                f"no manifest at {path}.\nFix: pass the CSV path, or build the demo cohort with "
                "medwb.demo.build_cohort(directory)."
            )
        table = pd.read_csv(path, dtype={"case_id": str, "patient_id": str})
        truth_path = path.parent / "ground_truth.json"
        if "ground_truth" not in kwargs and truth_path.exists():
            kwargs["ground_truth"] = json.loads(truth_path.read_text())
        return cls(table, root=root if root is not None else path.parent, **kwargs)

    @classmethod
    def from_dicom(
        cls,
        folder: str | Path,
        clinical: pd.DataFrame | str | Path | None = None,
        *,
        on: str = "patient_id",
        modality: str | None = None,
        choose: Callable[[pd.DataFrame], pd.Series] | None = None,
        progress: bool = True,
        **kwargs: Any,
    ) -> Cohort:
        """Scan a DICOM folder, take one image series per patient, join a clinical table.

        Args:
            folder: root of the DICOM tree.
            clinical: DataFrame or CSV with a column named ``on`` (default ``patient_id``) matching the
                DICOM PatientID; its other columns become clinical columns.
            modality: keep only series of this modality (e.g. "CT").
            choose: picks one series row from a patient's candidates; default: the series with the most
                files (ties: the first by SeriesInstanceUID).

        Patients in the clinical table without an image, and image series without clinical data, are
        listed in ``cohort.problems`` (nothing is dropped silently). Files the scan could not use are in
        ``cohort.scan_problems``.
        """
        from medwb.io.dicom import scan

        index = scan(folder, progress=progress)
        series = index.series
        series = series[series["is_image"]] if "is_image" in series else series
        if modality is not None:
            series = series[series["modality"] == modality]
        rows = []
        for pid, group in series.groupby("patient_id", sort=True):
            best = choose(group) if choose else group.sort_values(
                ["n_files", "series_uid"], ascending=[False, True]).iloc[0]
            files = index.files[index.files["series_uid"] == best["series_uid"]]["path"]
            common = Path(*Path(files.iloc[0]).parts[:-1]) if files.nunique() else Path(folder)
            rows.append({"case_id": str(pid), "patient_id": str(pid), "image": str(common),
                         "series_uid": best["series_uid"], "study_uid": best.get("study_uid")})
        images = pd.DataFrame(rows, columns=["case_id", "patient_id", "image", "series_uid", "study_uid"])
        extra: list[dict[str, Any]] = []
        if clinical is not None:
            clin = pd.read_csv(clinical) if isinstance(clinical, (str, Path)) else clinical.copy()
            if on not in clin.columns:
                raise CohortError(
                    f"the clinical table has no column {on!r} to join on; it has {list(clin.columns)}.\n"
                    "Fix: pass on='<your patient id column>'."
                )
            clin[on] = clin[on].astype(str)
            table = clin.merge(images.rename(columns={"patient_id": on}) if on != "patient_id" else images,
                               on=on, how="outer", indicator=True)
            for _, r in table[table["_merge"] == "right_only"].iterrows():
                extra.append(_problem(r["case_id"], "clinical", None, "image series has no clinical row",
                                      f"add a row with {on}={r[on]!r} to the clinical table"))
            table.loc[table["case_id"].isna(), "case_id"] = table[on]
            table = table.drop(columns="_merge")
        else:
            table = images
        cohort = cls(table.reset_index(drop=True), root=None, warn=False, **kwargs)
        cohort.scan_problems = index.problems
        if extra:
            cohort.problems = pd.concat([cohort.problems, pd.DataFrame(extra)], ignore_index=True)
        if len(cohort.problems):
            warnings.warn(f"{len(cohort.problems)} problem(s); see Cohort.problems", CohortWarning,
                          stacklevel=2)
        return cohort

    # -- validation -----------------------------------------------------------------------
    def validate(self) -> pd.DataFrame:
        """Check every case; return a problems table (case_id, column, value, problem, fix)."""
        out: list[dict[str, Any]] = []
        t = self.table
        for col in ("image", "mask"):
            if col not in t:
                continue
            for cid, val in zip(t["case_id"], t[col]):
                if _missing(val):
                    if col == "image":
                        out.append(_problem(cid, col, None, "no image for this case",
                                            "add its image path, or leave the case out of image work"))
                    continue
                if not self._resolve(str(val)).exists():
                    out.append(_problem(cid, col, val, f"{col} not found at {self._resolve(str(val))}",
                                        "fix the path or the cohort root"))
        if "time" in t:
            time = pd.to_numeric(t["time"], errors="coerce")
            for cid, raw, val in zip(t["case_id"], t["time"], time):
                if np.isnan(val):
                    if not _missing(raw):
                        out.append(_problem(cid, "time", raw, "survival time is not a number",
                                            "use days (or months) as numbers"))
                    elif "event" in t:
                        out.append(_problem(cid, "time", raw, "survival time missing",
                                            "fill it in, or drop the case from survival analysis"))
                elif val <= 0:
                    out.append(_problem(cid, "time", raw, "survival time must be positive",
                                        "check the dates; a same-day event is usually recorded as 0.5 day"))
        for col in ("event", "label"):
            if col not in t:
                continue
            for cid, raw in zip(t["case_id"], t[col]):
                if _missing(raw):
                    if col == "event":
                        out.append(_problem(cid, col, raw, "event indicator missing", "use 1 = event, 0 = censored"))
                    continue
                try:
                    ok = float(raw) in (0.0, 1.0)
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    what = "1 = event, 0 = censored" if col == "event" else "1 = positive, 0 = negative"
                    out.append(_problem(cid, col, raw, f"{col} must be 0 or 1", f"recode as {what}"))
        return pd.DataFrame(out, columns=_PROBLEM_COLUMNS)

    # -- access ---------------------------------------------------------------------------
    @property
    def case_ids(self) -> list[str]:
        return self.table["case_id"].tolist()

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self) -> Iterator[str]:
        return iter(self.case_ids)

    def __contains__(self, case_id: object) -> bool:
        return str(case_id) in self._index

    def row(self, case_id: str) -> pd.Series:
        """The table row of one case."""
        return self.table.iloc[self._position(case_id)]

    def volume(self, case_id: str) -> Volume:
        """The image of a case as a Volume (loaded on first use, then cached).

        The voxels are **read-only** and shared with every other caller (no copy, so a cached case
        costs nothing to hand out): writing into ``.array`` raises ``ValueError: assignment
        destination is read-only``. Each call returns a new Volume object, so replacing its
        ``array``, ``affine`` or ``meta`` never changes what the next caller gets. To edit the
        voxels, edit a copy: ``v = cohort.volume(case).copy()`` (writable), or build a new array
        (``v.with_array(v.array * 2)``).

        Example:
            >>> import pandas as pd
            >>> from medwb.io.nifti import save_nifti
            >>> _ = save_nifti(Volume.from_geometry(np.zeros((2, 3, 4), np.int16)), tmp_path / "a.nii.gz")
            >>> c = Cohort(pd.DataFrame({"case_id": ["a"], "image": ["a.nii.gz"]}), tmp_path)
            >>> v = c.volume("a")
            >>> v.array.flags.writeable, c.volume("a").array is v.array  # shared, read-only
            (False, True)
            >>> w = v.copy(); w.array[0, 0, 0] = 7; int(c.volume("a").array[0, 0, 0])
            0
        """
        return self._load(case_id, "image")

    def mask(self, case_id: str) -> Volume | None:
        """The case's label volume (e.g. the demo's lesion mask), or None when it has none.

        Read-only and shared like volume(): copy it (``.copy()``) before editing.
        """
        if "mask" not in self.table or _missing(self.row(case_id)["mask"]):
            return None
        return self._load(case_id, "mask")

    def volumes(self, case_ids: Sequence[str] | None = None, progress: bool = True
                ) -> Iterator[tuple[str, Volume]]:
        """Iterate (case_id, Volume) with a progress bar."""
        from tqdm.auto import tqdm

        ids = list(case_ids) if case_ids is not None else self.case_ids
        for cid in tqdm(ids, desc="volumes", disable=not progress, leave=False):
            yield cid, self.volume(cid)

    def subset(self, case_ids: Sequence[str] | pd.Series | np.ndarray) -> Cohort:
        """A cohort of some cases (ids, or a boolean mask over the table), sharing this root."""
        ids = np.asarray(case_ids)
        if ids.dtype == bool:
            if len(ids) != len(self):
                raise CohortError(f"boolean selection has {len(ids)} entries for {len(self)} cases")
            table = self.table[ids]
        else:
            pos = [self._position(str(c)) for c in ids]
            table = self.table.iloc[pos]
        sub = Cohort(table, self.root, cache_size=self.cache_size, ground_truth=self.ground_truth, warn=False)
        sub._cache = self._cache  # loaded volumes are shared, not reloaded
        return sub

    def split(self, test_size: float = 0.25, seed: int = 0, stratify: str | None = "label"
              ) -> tuple[Cohort, Cohort]:
        """Train/test split, stratified by ``label`` when the cohort has one. Deterministic per seed."""
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}")
        rng = np.random.default_rng(seed)
        groups = (self.table.groupby(stratify).indices.values() if stratify and stratify in self.table
                  else [np.arange(len(self))])
        test: list[int] = []
        for idx in groups:
            idx = rng.permutation(np.asarray(idx))
            test.extend(idx[: max(1, round(len(idx) * test_size))].tolist())
        is_test = np.zeros(len(self), bool)
        is_test[test] = True
        return self.subset(~is_test), self.subset(is_test)

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- internals ------------------------------------------------------------------------
    def _position(self, case_id: str) -> int:
        try:
            return self._index[str(case_id)]
        except KeyError:
            near = [c for c in self.case_ids if str(case_id).lower() in c.lower()][:5]
            raise KeyError(
                f"no case {case_id!r} in this cohort of {len(self)} cases"
                + (f"; similar ids: {near}" if near else f"; first ids: {self.case_ids[:5]}")
            ) from None

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() or self.root is None else self.root / p

    def _load(self, case_id: str, column: str) -> Volume:
        key = (str(case_id), column)
        if key in self._cache:
            self._cache.move_to_end(key)
            return _handout(self._cache[key])
        row = self.row(case_id)
        if column not in row or _missing(row[column]):
            raise CohortError(f"case {case_id!r} has no {column}.\nFix: add its path to the table's "
                              f"'{column}' column.")
        from medwb.io.load import load_volume

        vol = load_volume(self._resolve(str(row[column])))
        vol.meta.setdefault("case_id", str(case_id))
        vol.array.setflags(write=False)  # shared by every caller: nobody may write into it
        vol.affine.setflags(write=False)
        self._cache[key] = vol
        while len(self._cache) > max(self.cache_size, 0):
            self._cache.popitem(last=False)
        return _handout(vol)

    def __repr__(self) -> str:
        t = self.table
        parts = [f"{len(self)} cases"]
        if "label" in t:
            parts.append(f"{int((pd.to_numeric(t['label'], errors='coerce') == 1).sum())} positive")
        if "event" in t:
            parts.append(f"{int((pd.to_numeric(t['event'], errors='coerce') == 1).sum())} events")
        clinical = [c for c in t.columns if c not in RESERVED_COLUMNS]
        parts.append(f"columns: {', '.join(clinical[:8])}{', ...' if len(clinical) > 8 else ''}")
        if len(self.problems):
            parts.append(f"{len(self.problems)} problem(s)")
        where = f", root={str(self.root)!r}" if self.root else ""
        return f"Cohort({'; '.join(parts)}{where})"


def _handout(cached: Volume) -> Volume:
    """A new Volume around a cached one: the read-only voxels shared, geometry and meta copied."""
    return Volume(cached.array, cached.affine.copy(), cached.modality, copy.deepcopy(cached.meta))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value == ""


def _problem(case_id: Any, column: str, value: Any, problem: str, fix: str) -> dict[str, Any]:
    return {"case_id": str(case_id), "column": column, "value": value, "problem": problem, "fix": fix}
