"""Reader-study designs: which reader reads which case, in which arm, in which session and order.

A design is data (it round-trips through JSON and lives in the answer store): the cases with their
truth, two or more arms ("modalities" in MRMC terms, e.g. ``image`` and ``image+AI``), the readers,
the rating scale and a seed. Every reader reads every case once in every arm, one arm per case per
session, so a study has as many sessions as arms:

- crossover (default): in each session the cases are split into balanced groups (stratified by
  truth), each group read in a different arm; the next session rotates the arms and reshuffles the
  order (a split-plot crossover; for two arms, session 2 swaps them).
- blocked (``crossover=False``): session s reads every case in one arm; the arm order is
  counterbalanced across readers.

Reading orders are seeded per reader and session, so they are the same on every machine.
Blinding lives in the readers' view (medwb.widgets.ReaderStudy): tasks carry case ids so the images can
be loaded, but a reader is shown only "case 12 of 40", never the id or the truth.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medwb.readers.errors import DesignError

__all__ = ["StudyDesign", "Task", "SCALES"]

#: rating scales: name -> (lowest, highest, step); "1-5" is a confidence scale, "0-100" a slider
SCALES: dict[str, tuple[float, float, float]] = {"1-5": (1.0, 5.0, 1.0), "0-100": (0.0, 100.0, 1.0)}


@dataclass(frozen=True)
class Task:
    """One reading: ``position`` (1-based) of ``total`` in ``session`` (1-based), ``case`` in ``arm``."""

    session: int
    position: int
    total: int
    case: str
    arm: str


@dataclass(frozen=True)
class StudyDesign:
    """A multi-reader multi-case study (see the module docstring).

    Args:
        name: the study's name (the key of its answers in the store).
        cases: case ids.
        truth: case id -> 1 (diseased) or 0; never shown to readers.
        readers: reader ids.
        arms: two or more arms; the first is the reference (e.g. "image").
        scale: "1-5" (confidence) or "0-100" (slider).
        crossover: split-plot crossover (True) or one arm per session (False).
        seed: seeds every reading order.
        lesion_click: offer a click on the suspected lesion (stored in LPS mm).

    Example:
        >>> d = StudyDesign("demo", cases=["a", "b", "c", "d"], truth={"a": 0, "b": 1, "c": 0, "d": 1},
        ...                 readers=["ann", "bob"])
        >>> d.n_sessions, len(d.worklist("ann", session=1)), d.worklist("ann", 1)[0].total
        (2, 4, 4)
        >>> sorted(t.arm for s in (1, 2) for t in d.worklist("ann", s) if t.case == "a")
        ['image', 'image+AI']
    """

    name: str
    cases: tuple[str, ...]
    truth: Mapping[str, int]
    readers: tuple[str, ...]
    arms: tuple[str, ...] = ("image", "image+AI")
    scale: str = "1-5"
    crossover: bool = True
    seed: int = 0
    lesion_click: bool = True
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cases", tuple(str(c) for c in self.cases))
        object.__setattr__(self, "readers", tuple(str(r) for r in self.readers))
        object.__setattr__(self, "arms", tuple(str(a) for a in self.arms))
        object.__setattr__(self, "truth", {str(k): v for k, v in dict(self.truth).items()})
        if not str(self.name).strip():
            raise DesignError("the study has no name. Fix: pass name='my-study'.")
        for what, items in (("cases", self.cases), ("readers", self.readers), ("arms", self.arms)):
            dup = sorted({x for x in items if items.count(x) > 1})
            if dup:
                raise DesignError(f"{what} repeat: {dup[:10]}. Fix: list each once.")
        if len(self.arms) < 2:
            raise DesignError(f"arms is {list(self.arms)}: a reader study compares two or more arms. "
                              "Fix: pass arms=('image', 'image+AI').")
        if not self.readers:
            raise DesignError("readers is empty. Fix: pass readers=['reader-1', ...].")
        if self.scale not in SCALES:
            raise DesignError(f"scale is {self.scale!r}. Fix: use one of {list(SCALES)}.")
        missing = [c for c in self.cases if c not in self.truth]
        if missing:
            raise DesignError(f"truth is missing for cases {missing[:10]}. Fix: give every case 0 or 1.")
        bad = {c: self.truth[c] for c in self.cases if self.truth[c] not in (0, 1)}
        if bad:
            raise DesignError(f"truth must be 0 or 1; cases {list(bad)[:10]} have {list(bad.values())[:10]}. "
                              "Fix: code the diagnosis as 1 (diseased) / 0.")
        truths = {int(self.truth[c]) for c in self.cases}
        if truths != {0, 1}:
            raise DesignError(f"every case has truth {sorted(truths)}: ROC analysis needs diseased and "
                              "non-diseased cases. Fix: add cases of the other class.")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_cohort(cls, cohort: Any, name: str, readers: Sequence[str], *, truth: str = "label",
                    n_cases: int | None = None, seed: int = 0, **kwargs: Any) -> StudyDesign:
        """A design on a Cohort's cases, truth from its table column ``truth``; ``n_cases`` draws a
        seeded subset stratified by truth (about the cohort's prevalence).

        Example:
            >>> import pandas as pd
            >>> class Toy:  # anything with a .table (case_id + truth column) works
            ...     table = pd.DataFrame({"case_id": list("abcdef"), "label": [0, 1, 0, 1, 0, 1]})
            >>> StudyDesign.from_cohort(Toy(), "toy", ["r1"], n_cases=4).cases
            ('a', 'd', 'e', 'f')
        """
        table = cohort.table
        if truth not in table.columns:
            raise DesignError(f"the cohort has no column {truth!r}. Fix: pass truth= one of "
                              f"{list(table.columns)}.")
        ids = table["case_id"].astype(str).tolist()
        labels = table[truth].tolist()
        if n_cases is not None and n_cases < len(ids):
            rng = np.random.default_rng(seed)
            pos = [i for i, v in enumerate(labels) if v == 1]
            neg = [i for i, v in enumerate(labels) if v != 1]
            n_pos = max(1, round(n_cases * len(pos) / len(ids)))
            keep = sorted([*rng.choice(pos, n_pos, replace=False), *rng.choice(neg, n_cases - n_pos, replace=False)])
            ids = [ids[i] for i in keep]
            labels = [labels[i] for i in keep]
        return cls(name=name, cases=tuple(ids), truth=dict(zip(ids, (int(v) for v in labels))),
                   readers=tuple(readers), seed=seed, **kwargs)

    def with_readers(self, readers: Iterable[str]) -> StudyDesign:
        """The same design with more readers (existing readers keep their reading orders)."""
        new = [*self.readers, *(r for r in readers if r not in self.readers)]
        return StudyDesign(**{**self.to_dict(), "readers": tuple(new)})

    # -- reading orders -------------------------------------------------------------------
    @property
    def n_sessions(self) -> int:
        return len(self.arms)

    @property
    def n_readings(self) -> int:
        """Readings per reader over all sessions (cases × arms)."""
        return len(self.cases) * len(self.arms)

    def check_reader(self, reader: str) -> None:
        if reader not in self.readers:
            raise DesignError(f"reader {reader!r} is not in study {self.name!r} (readers: "
                              f"{list(self.readers)[:20]}). Fix: use a listed id, or add the reader with "
                              "design.with_readers([...]) and save the design again.")

    def _rng(self, reader: str, session: int) -> np.random.Generator:
        # keyed by the reader's id (not position), so adding readers never changes anyone's order
        return np.random.default_rng([self.seed, zlib.crc32(reader.encode()), session])

    def arm_of(self, reader: str, session: int) -> dict[str, str]:
        """case -> arm read by ``reader`` in ``session`` (1-based)."""
        self.check_reader(reader)
        if not 1 <= session <= self.n_sessions:
            raise DesignError(f"session {session} does not exist; study {self.name!r} has sessions "
                              f"1..{self.n_sessions}.")
        k = len(self.arms)
        offset = self.readers.index(reader) % k  # counterbalance the arm order across readers
        if not self.crossover:
            arm = self.arms[(session - 1 + offset) % k]
            return {c: arm for c in self.cases}
        # balanced groups, stratified by truth, fixed for the reader across sessions
        rng = self._rng(reader, 0)
        groups: dict[str, int] = {}
        for label in (0, 1):
            members = [c for c in self.cases if int(self.truth[c]) == label]
            members = [members[i] for i in rng.permutation(len(members))]
            start = len(groups)  # continue dealing where the other class stopped, to balance sizes
            for n, c in enumerate(members):
                groups[c] = (start + n) % k
        return {c: self.arms[(groups[c] + session - 1 + offset) % k] for c in self.cases}

    def worklist(self, reader: str, session: int) -> list[Task]:
        """The reader's tasks in ``session`` (1-based), in reading order."""
        arms = self.arm_of(reader, session)
        order = self._rng(reader, session).permutation(len(self.cases))
        total = len(self.cases)
        return [Task(session, n + 1, total, self.cases[i], arms[self.cases[i]]) for n, i in enumerate(order)]

    def all_tasks(self, reader: str) -> list[Task]:
        """Every task of the reader, session by session."""
        return [t for s in range(1, self.n_sessions + 1) for t in self.worklist(reader, s)]

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cases": list(self.cases), "truth": {c: int(self.truth[c]) for c in self.cases},
                "readers": list(self.readers), "arms": list(self.arms), "scale": self.scale,
                "crossover": self.crossover, "seed": int(self.seed), "lesion_click": self.lesion_click,
                "meta": dict(self.meta)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StudyDesign:
        d = json.loads(text)
        return cls(**{**d, "cases": tuple(d["cases"]), "readers": tuple(d["readers"]), "arms": tuple(d["arms"])})
