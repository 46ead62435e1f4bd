"""The answer store: each answer committed at once, resume after a crash, no duplicates under concurrent
writers (threads and processes, on SQLite and on a real PostgreSQL server), idempotent CSV hand-over."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pandas as pd
import pytest

from medwb.readers import AnswerConflictError, DesignError, StudyDesign
from medwb.readers.store import AnswerStore

CASES = [f"c{i:02d}" for i in range(12)]


def design(readers=("ann", "bob"), **kw) -> StudyDesign:
    return StudyDesign("trial", cases=CASES, truth={c: i % 2 for i, c in enumerate(CASES)}, readers=readers, **kw)


@pytest.fixture()
def store(tmp_path):
    s = AnswerStore(tmp_path / "answers.sqlite")
    s.save_design(design())
    yield s
    s.close()


def test_reader_resumes_at_the_first_unanswered_case_after_reopening(store, tmp_path):
    d = design()
    for t in d.worklist("ann", 1)[:5]:
        assert store.record("trial", "ann", t, rating=3, seconds=4.0)
    again = AnswerStore(tmp_path / "answers.sqlite")
    nxt = again.next_task("trial", "ann")
    assert (nxt.session, nxt.position) == (1, 6) and nxt == d.worklist("ann", 1)[5]
    assert len(again.answers("trial")) == 5


def test_an_answer_survives_a_killed_process(tmp_path):
    path = tmp_path / "kill.sqlite"
    AnswerStore(path).save_design(design())
    code = textwrap.dedent(f"""
        import os, signal
        from medwb.readers.store import AnswerStore
        s = AnswerStore({str(path)!r})
        d = s.design("trial")
        for t in d.worklist("bob", 1)[:3]:
            s.record("trial", "bob", t, rating=5)
        os.kill(os.getpid(), signal.SIGKILL)  # no clean shutdown, no close()
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    s = AnswerStore(path)
    assert len(s.answers("trial", "bob")) == 3 and s.next_task("trial", "bob").position == 4


def test_answering_the_same_task_twice_keeps_the_first_answer(store):
    t = design().worklist("ann", 1)[0]
    assert store.record("trial", "ann", t, rating=2) is True
    assert store.record("trial", "ann", t, rating=5) is False
    a = store.answers("trial")
    assert len(a) == 1 and a.rating.iloc[0] == 2


def test_lesion_click_is_stored_in_mm(store):
    t = design().worklist("bob", 1)[0]
    store.record("trial", "bob", t, rating=4, lesion=(-12.5, 30.25, 101.0), seconds=8.5)
    row = store.answers("trial").iloc[0]
    assert (row.lesion_x, row.lesion_y, row.lesion_z, row.seconds) == (-12.5, 30.25, 101.0, 8.5)


@pytest.mark.parametrize("reader,rating,arm,match", [
    ("zed", 3, None, "reader 'zed' is not in study"),
    ("ann", 6, None, r"rating 6 is outside the study's 1-5 scale"),
    ("ann", 3, "other", "not 'other'"),
])
def test_bad_answers_are_refused(store, reader, rating, arm, match):
    t = design().worklist("ann", 1)[0]
    if arm:
        t = type(t)(t.session, t.position, t.total, t.case, arm)
    with pytest.raises(DesignError, match=match):
        store.record("trial", reader, t, rating=rating)
    assert store.answers("trial").empty


def test_a_different_design_under_the_same_name_is_refused_but_new_readers_are_welcome(store):
    with pytest.raises(DesignError, match="already stored with a different design"):
        store.save_design(design(seed=5))
    store.save_design(design().with_readers(["cy"]))
    assert store.design("trial").readers == ("ann", "bob", "cy")


def test_progress_shows_who_has_finished_what(store):
    d = design()
    for t in d.all_tasks("bob"):
        store.record("trial", "bob", t, rating=1)
    store.record("trial", "ann", d.worklist("ann", 1)[0], rating=1)
    p = store.progress("trial").set_index("reader")
    assert p.loc["bob", "done"] and p.loc["bob", "answered"] == 24
    assert not p.loc["ann", "done"] and p.loc["ann", "answered"] == 1 and p.loc["ann", "position"] == 2
    assert store.ratings("trial", finished_only=True).reader.unique().tolist() == ["bob"]


def _answer_all(url: str, reader_order: list[str], rating: float) -> None:
    s = AnswerStore(url)
    d = s.design("trial")
    for r in reader_order:
        for t in d.all_tasks(r):
            s.record("trial", r, t, rating=rating)


def _check_no_loss_no_duplicate(url: str) -> None:
    a = AnswerStore(url).answers("trial")
    assert len(a) == 2 * 24
    assert not a.duplicated(["reader", "session", "case"]).any()
    assert set(map(tuple, a[["reader", "modality", "case"]].to_numpy())) == {
        (r, t.arm, t.case) for r in ("ann", "bob") for t in design().all_tasks(r)}


def _threads(url: str) -> None:
    s = AnswerStore(url)
    s.save_design(design())
    # four writers: ann and bob each answered from two places at once (a double submit, two tabs)
    jobs = [threading.Thread(target=_answer_all, args=(url, order, v))
            for order, v in ((["ann"], 1), (["ann"], 2), (["bob"], 3), (["bob", "ann"], 4))]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    _check_no_loss_no_duplicate(url)


def _processes(url: str) -> None:
    s = AnswerStore(url)
    s.save_design(design())
    code = ("import sys; sys.path.insert(0, {here!r}); from test_store import _answer_all; "
            "_answer_all({url!r}, {order!r}, {v})")
    from pathlib import Path

    here = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", code.format(here=here, url=url, order=order, v=v)],
                              stderr=subprocess.PIPE)
             for order, v in ((["ann", "bob"], 1), (["bob", "ann"], 2), (["ann"], 3))]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    _check_no_loss_no_duplicate(url)


def test_concurrent_threads_never_lose_or_duplicate_answers_sqlite(tmp_path):
    _threads(str(tmp_path / "threads.sqlite"))


def test_concurrent_processes_never_lose_or_duplicate_answers_sqlite(tmp_path):
    _processes(str(tmp_path / "procs.sqlite"))


def _fresh_pg_db(postgres_url: str, name: str) -> str:
    import sqlalchemy as sa

    eng = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as con:
        con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def test_concurrent_threads_never_lose_or_duplicate_answers_postgresql(postgres_url):
    _threads(_fresh_pg_db(postgres_url, "threads"))


def test_concurrent_processes_never_lose_or_duplicate_answers_postgresql(postgres_url):
    _processes(_fresh_pg_db(postgres_url, "procs"))


def test_postgresql_store_resumes_and_exports_like_sqlite(postgres_url, tmp_path):
    url = _fresh_pg_db(postgres_url, "resume")
    s = AnswerStore(url)
    s.save_design(design())
    for t in design().worklist("ann", 1)[:5]:
        s.record("trial", "ann", t, rating=4, lesion=(1.5, -2.0, 30.0))
    s.close()
    again = AnswerStore(url)
    assert again.next_task("trial", "ann").position == 6
    lite = AnswerStore(tmp_path / "copy.sqlite")
    lite.save_design(design())
    assert lite.import_csv(again.export_csv("trial", tmp_path / "ann.csv", reader="ann"))["added"] == 5
    pd.testing.assert_frame_equal(lite.answers("trial").drop(columns="answered_at"),
                                  again.answers("trial").drop(columns="answered_at"))


def test_csv_import_twice_changes_nothing(store, tmp_path):
    d = design()
    for t in d.all_tasks("ann")[:7]:
        store.record("trial", "ann", t, rating=2, seconds=3.25, lesion=(0.1, 0.2, 0.3))
    path = store.export_csv("trial", tmp_path / "ann.csv", reader="ann")
    teacher = AnswerStore(tmp_path / "teacher.sqlite")
    teacher.save_design(design())
    assert teacher.import_csv(path) == {"added": 7, "already_present": 0}
    before = teacher.answers("trial")
    assert teacher.import_csv(path) == {"added": 0, "already_present": 7}
    pd.testing.assert_frame_equal(teacher.answers("trial"), before)
    pd.testing.assert_frame_equal(before, store.answers("trial"))


def test_csv_import_that_contradicts_stored_answers_writes_nothing_and_names_lines(store, tmp_path):
    d = design()
    for t in d.all_tasks("ann")[:4]:
        store.record("trial", "ann", t, rating=2)
    path = store.export_csv("trial", tmp_path / "ann.csv")
    teacher = AnswerStore(tmp_path / "teacher.sqlite")
    teacher.save_design(design())
    teacher.record("trial", "ann", d.all_tasks("ann")[2], rating=5)  # a different answer to the 3rd task
    with pytest.raises(AnswerConflictError, match=r"row 4 \(file lines\)"):
        teacher.import_csv(path)
    assert len(teacher.answers("trial")) == 1
