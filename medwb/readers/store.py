"""A durable store of reader-study answers, through SQLAlchemy: SQLite by default (one file), or any
SQLAlchemy URL (PostgreSQL: ``postgresql+psycopg://user@host:port/db``).

Each answer is committed the moment it is given, so killing the kernel loses at most the case on screen,
and a reader who comes back resumes at the first task not answered. Unique constraints on
(study, reader, session, case) and (study, reader, arm, case) make the database itself refuse a second
answer, so readers answering at the same time (threads, processes, machines) never duplicate one; an
insert that meets an existing answer is skipped ("first answer wins"), never an error that loses work.
SQLite runs in WAL mode with a busy timeout so that concurrent writers wait instead of failing.

Per-reader CSV export and import let students on separate machines hand answers to a teacher;
importing a file twice changes nothing, and an import that contradicts a stored answer writes nothing
and names the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from medwb.readers.design import SCALES, StudyDesign, Task
from medwb.readers.errors import AnswerConflictError, DesignError, rows_text

__all__ = ["AnswerStore", "CSV_COLUMNS"]

CSV_COLUMNS = ["study", "reader", "session", "position", "case", "modality", "rating", "lesion_x", "lesion_y",
               "lesion_z", "seconds", "answered_at"]

_meta = sa.MetaData()
_studies = sa.Table(
    "medwb_reader_studies", _meta,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("design", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
_answers = sa.Table(
    "medwb_reader_answers", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(200), nullable=False),
    sa.Column("reader", sa.String(200), nullable=False),
    sa.Column("session", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("case_id", sa.String(200), nullable=False),
    sa.Column("modality", sa.String(200), nullable=False),
    sa.Column("rating", sa.Float, nullable=False),
    sa.Column("lesion_x", sa.Float), sa.Column("lesion_y", sa.Float), sa.Column("lesion_z", sa.Float),
    sa.Column("seconds", sa.Float),
    sa.Column("answered_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("study", "reader", "session", "case_id", name="medwb_one_answer_per_session"),
    sa.UniqueConstraint("study", "reader", "modality", "case_id", name="medwb_one_answer_per_arm"),
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _opt(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


class AnswerStore:
    """Answers of reader studies in a database (see the module docstring).

    Args:
        url: a path (an SQLite file, created if missing) or an SQLAlchemy URL; "sqlite://" is in memory.

    Example:
        >>> d = StudyDesign("s", cases=["a", "b", "c", "d"], truth={"a": 0, "b": 1, "c": 0, "d": 1}, readers=["ann"])
        >>> store = AnswerStore("sqlite://")
        >>> _ = store.save_design(d)
        >>> task = store.next_task("s", "ann")
        >>> store.record("s", "ann", task, rating=4, seconds=12.5)
        True
        >>> store.record("s", "ann", task, rating=2)  # already answered: the first answer stays
        False
        >>> store.next_task("s", "ann").position
        2
    """

    def __init__(self, url: str | Path = "reader_study.sqlite") -> None:
        text = str(url)
        if "://" not in text:
            path = Path(text).expanduser().resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            text = f"sqlite:///{path}"
        self.url = sa.engine.make_url(text)
        kwargs: dict[str, Any] = {}
        if self.url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 60}
            if self.url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool
                kwargs["connect_args"]["check_same_thread"] = False
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        for attempt in range(3):  # two processes creating the tables at once: one wins, the other retries
            try:
                _meta.create_all(self.engine)
                break
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
                if attempt == 2:
                    raise
        self._designs: dict[str, StudyDesign] = {}

    def __repr__(self) -> str:
        return f"AnswerStore({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # -- designs --------------------------------------------------------------------------
    def save_design(self, design: StudyDesign) -> StudyDesign:
        """Store the design (once) and return the stored one. Saving the same design again is a no-op; a
        design that only adds readers adds them (appended, so everyone keeps their reading order, also
        when two readers join at once); any other difference under the same name is an error (answers
        were given against the stored design)."""
        for _ in range(20):  # compare-and-swap: safe when several processes add readers at once
            with self.engine.begin() as con:
                row = con.execute(sa.select(_studies.c.design).where(_studies.c.name == design.name)).first()
                if row is None:
                    done = con.execute(_insert(self.engine, _studies).values(
                        name=design.name, design=design.to_json(), created_at=_now()).on_conflict_do_nothing())
                    if done.rowcount == 1:
                        self._designs[design.name] = design
                        return design
                    continue
                old = StudyDesign.from_json(row[0])
                if {**old.to_dict(), "readers": []} != {**design.to_dict(), "readers": []}:
                    raise DesignError(f"study {design.name!r} is already stored with a different design. Fix: "
                                      "load it with store.design(name), or give the new study another name.")
                merged = old.with_readers(design.readers)
                if merged == old or con.execute(
                        sa.update(_studies).where((_studies.c.name == design.name) & (_studies.c.design == row[0]))
                        .values(design=merged.to_json())).rowcount == 1:
                    self._designs[design.name] = merged
                    return merged
        raise DesignError(f"could not save study {design.name!r}: the stored design kept changing. Fix: try again.")

    def design(self, study: str) -> StudyDesign:
        """The stored design of ``study``."""
        with self.engine.connect() as con:
            row = con.execute(sa.select(_studies.c.design).where(_studies.c.name == study)).first()
        if row is None:
            raise DesignError(f"no study {study!r} in {self!r} (studies: {self.studies()}). "
                              "Fix: store.save_design(design) first.")
        self._designs[study] = d = StudyDesign.from_json(row[0])
        return d

    def studies(self) -> list[str]:
        with self.engine.connect() as con:
            return [r[0] for r in con.execute(sa.select(_studies.c.name).order_by(_studies.c.name))]

    def _design(self, study: str) -> StudyDesign:
        return self._designs.get(study) or self.design(study)

    # -- answers --------------------------------------------------------------------------
    def _row(self, design: StudyDesign, reader: str, session: int, position: int, case: str, modality: str,
             rating: float, lesion: Sequence[float] | None = None, seconds: float | None = None,
             answered_at: str | None = None) -> dict[str, Any]:
        design.check_reader(reader)
        arms = design.arm_of(reader, int(session))
        if case not in arms:
            raise DesignError(f"case {case!r} is not in study {design.name!r}. Fix: answer the design's cases.")
        if arms[case] != modality:
            raise DesignError(f"reader {reader!r} reads case {case!r} in arm {arms[case]!r} in session {session}, "
                              f"not {modality!r}. Fix: take the task from store.next_task().")
        lo, hi, _ = SCALES[design.scale]
        r = float(rating)
        if not lo <= r <= hi:
            raise DesignError(f"rating {rating!r} is outside the study's {design.scale} scale. "
                              f"Fix: rate from {lo:g} to {hi:g}.")
        x, y, z = (list(lesion) if lesion is not None else [None] * 3)
        return {"study": design.name, "reader": reader, "session": int(session), "position": int(position),
                "case_id": str(case), "modality": modality, "rating": r, "lesion_x": _opt(x),
                "lesion_y": _opt(y), "lesion_z": _opt(z), "seconds": _opt(seconds),
                "answered_at": answered_at or _now()}

    def record(self, study: str, reader: str, task: Task, rating: float, *, lesion: Sequence[float] | None = None,
               seconds: float | None = None) -> bool:
        """Commit one answer now. ``lesion`` is the clicked point in LPS mm (x, y, z) or None; ``seconds``
        the reading time. Returns False (and keeps the stored answer) if the task was already answered."""
        row = self._row(self._design(study), reader, task.session, task.position, task.case, task.arm, rating,
                        lesion, seconds)
        with self.engine.begin() as con:
            return con.execute(_insert(self.engine, _answers).values(**row).on_conflict_do_nothing()).rowcount == 1

    def record_many(self, study: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write many answers in one transaction (simulated readers, imports); rows have reader, session,
        position, case, modality, rating and optionally lesion_x/y/z, seconds, answered_at. Returns how
        many were new."""
        design = self._design(study)
        prepared = [self._row(design, r["reader"], r["session"], r["position"], r["case"], r["modality"],
                              r["rating"], _lesion(r), r.get("seconds"), r.get("answered_at")) for r in rows]
        added = 0
        with self.engine.begin() as con:
            for row in prepared:
                added += con.execute(_insert(self.engine, _answers).values(**row).on_conflict_do_nothing()).rowcount
        return added

    def answers(self, study: str, reader: str | None = None) -> pd.DataFrame:
        """The stored answers (columns CSV_COLUMNS), by reader, session and position."""
        q = sa.select(_answers).where(_answers.c.study == study)
        if reader is not None:
            q = q.where(_answers.c.reader == reader)
        with self.engine.connect() as con:
            df = pd.DataFrame(con.execute(q).mappings().all(), columns=[c.name for c in _answers.columns])
        df = df.rename(columns={"case_id": "case"})[CSV_COLUMNS]
        return df.sort_values(["reader", "session", "position"], ignore_index=True)

    def next_task(self, study: str, reader: str) -> Task | None:
        """The reader's first unanswered task (sessions in order), or None when they are done."""
        design = self._design(study)
        design.check_reader(reader)
        q = sa.select(_answers.c.session, _answers.c.case_id).where(
            (_answers.c.study == study) & (_answers.c.reader == reader))
        with self.engine.connect() as con:
            done = {(int(s), c) for s, c in con.execute(q)}
        return next((t for t in design.all_tasks(reader) if (t.session, t.case) not in done), None)

    def progress(self, study: str) -> pd.DataFrame:
        """Per reader: answered, total, the session and position they are at, done, last answer time."""
        design = self._design(study)
        a = self.answers(study)
        rows = []
        for r in design.readers:
            mine = a[a.reader == r]
            nxt = self.next_task(study, r) if len(mine) < design.n_readings else None
            rows.append({"reader": r, "answered": len(mine), "total": design.n_readings,
                         "session": nxt.session if nxt else design.n_sessions,
                         "position": nxt.position if nxt else len(design.cases),
                         "done": nxt is None, "last_answer": mine.answered_at.max() if len(mine) else None})
        return pd.DataFrame(rows)

    def ratings(self, study: str, finished_only: bool = False) -> pd.DataFrame:
        """The long table that medwb.readers.mrmc analyses: reader, modality, case, truth, rating, seconds,
        lesion_x/y/z. ``finished_only`` keeps readers who have answered every task."""
        design = self._design(study)
        a = self.answers(study)
        if finished_only:
            n = a.groupby("reader").size()
            a = a[a.reader.isin(n.index[n == design.n_readings])]
        out = a[["reader", "modality", "case"]].copy()
        out["truth"] = [int(design.truth[c]) for c in a["case"]]
        for c in ("rating", "seconds", "lesion_x", "lesion_y", "lesion_z"):
            out[c] = a[c].to_numpy()
        out["modality"] = pd.Categorical(out["modality"], categories=list(design.arms))
        return out.reset_index(drop=True)

    # -- CSV hand-over --------------------------------------------------------------------
    def export_csv(self, study: str, path: str | Path, reader: str | None = None) -> Path:
        """Write the answers of ``study`` (one reader's, or all) to a CSV file; returns its path."""
        path = Path(path)
        self.answers(study, reader).to_csv(path, index=False)
        return path

    def import_csv(self, path: str | Path) -> dict[str, int]:
        """Add the answers in a CSV written by :meth:`export_csv`. Answers already stored are skipped (so a
        second import changes nothing); rows that contradict a stored answer raise AnswerConflictError
        and nothing is written. Returns {"added": n, "already_present": m}."""
        df = pd.read_csv(path, dtype={"study": str, "reader": str, "case": str, "modality": str})
        missing = [c for c in CSV_COLUMNS if c not in df.columns]
        if missing:
            raise AnswerConflictError(f"{path} has no column {missing}. Fix: import files made by export_csv().")
        added = present = 0
        for study, part in df.groupby("study", sort=False):
            have = self.answers(study).set_index(["reader", "session", "case"])
            conflict = []
            for idx, r in part.iterrows():
                key = (r.reader, int(r.session), r.case)
                if key in have.index:
                    old = have.loc[key]
                    if old.modality != r.modality or not np.isclose(old.rating, r.rating, rtol=0, atol=1e-12):
                        conflict.append(idx + 2)  # the file's line number (header is line 1)
            if conflict:
                raise AnswerConflictError(f"{path}: {rows_text(conflict)} (file lines) differ from answers already "
                                          f"stored for study {study!r}. Fix: check which answer is right and "
                                          "delete the wrong one from the file; nothing was imported.")
            n = self.record_many(study, part.to_dict("records"))
            added += n
            present += len(part) - n
        return {"added": added, "already_present": present}


def _lesion(row: Mapping[str, Any]) -> list[float] | None:
    xyz = [row.get("lesion_x"), row.get("lesion_y"), row.get("lesion_z")]
    return None if all(_opt(v) is None for v in xyz) else [float(v) for v in xyz]


def _insert(engine: sa.Engine, table: sa.Table) -> Any:
    """INSERT that can skip rows hitting a unique constraint (ON CONFLICT DO NOTHING)."""
    name = engine.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise DesignError(f"the answer store supports SQLite and PostgreSQL, not {name!r}. "
                          "Fix: use a sqlite:/// path or a postgresql+psycopg:// URL.")
    return insert(table)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()
