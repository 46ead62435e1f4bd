"""medwb.widgets.ReaderStudy and TeacherView in the kernel: blinding, arms, answers committed with time and
lesion position, resume, escaping."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

import medwb  # noqa: E402
from medwb.readers import StudyDesign  # noqa: E402
from medwb.readers.store import AnswerStore  # noqa: E402

EVIL = '<img src=x onerror="alert(1)">'


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def volumes():
    vol = medwb.Volume.from_geometry(np.arange(5 * 8 * 9, dtype=np.int16).reshape(5, 8, 9), spacing=(2.0, 1.0, 0.5),
                                     origin=(-10.0, 20.0, 30.0))
    return lambda case: vol


def all_html(widget) -> str:
    import ipywidgets as w

    out = []

    def walk(x):
        if isinstance(x, (w.HTML, w.Label)):
            out.append(x.value)
        if isinstance(x, w.Button):
            out.append(x.description)
        if isinstance(x, w.ToggleButtons):
            out.extend(str(o) for o in x.options)
        for c in getattr(x, "children", ()):
            walk(c)

    walk(widget)
    return "\n".join(out)


@pytest.fixture()
def setup():
    cases = [f"secret-case-{i}" for i in range(6)]
    d = StudyDesign(f"study {EVIL}", cases=cases, truth={c: i % 2 for i, c in enumerate(cases)},
                    readers=["r1", EVIL])
    store = AnswerStore("sqlite://")
    store.save_design(d)
    return d, store


def make(d, store, reader="r1", clock=None, ai=None):
    from medwb.widgets import ReaderStudy

    ai = ai or (lambda case: (0.83, np.ones((5, 8, 9))))
    return ReaderStudy(d, store, reader, images=volumes(), ai=ai, clock=clock or Clock())


def test_reader_never_sees_case_ids_or_truth_and_data_is_escaped(setup):
    d, store = setup
    rs = make(d, store, reader=EVIL)
    for _ in range(len(d.cases)):
        text = all_html(rs)
        assert "secret-case" not in text and "truth" not in text.lower()
        assert EVIL not in text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
        assert f"case {rs.task.position} of 6" in text
        rs.rate(3)
        rs.save()


def test_image_arm_has_no_overlay_and_ai_arm_shows_probability_and_attribution(setup):
    d, store = setup
    rs = make(d, store)
    seen = set()
    for _ in range(len(d.cases)):
        if rs.task.arm == "image":
            assert rs.viewer.attribution is None and rs.ai_box.value == ""
        else:
            assert rs.viewer.attribution is not None and "0.83" in rs.ai_box.value
        seen.add(rs.task.arm)
        rs.rate(2)
        rs.save()
    assert seen == {"image", "image+AI"}


def test_answer_is_committed_with_reading_time_and_lesion_in_lps_mm(setup):
    d, store = setup
    clock = Clock()
    rs = make(d, store, clock=clock)
    task = rs.task
    clock.t += 12.25
    rs.mark_lesion((2, 3, 4))
    rs.rate(5)
    assert rs.save() is True
    a = store.answers(d.name).iloc[0]
    expected = rs.volume.index_to_world((2, 3, 4))
    assert (a.case, a.modality, a.rating, a.seconds) == (task.case, task.arm, 5.0, 12.25)
    np.testing.assert_allclose([a.lesion_x, a.lesion_y, a.lesion_z], np.ravel(expected)[:3])
    np.testing.assert_allclose([a.lesion_x, a.lesion_y, a.lesion_z], [-10.0 + 4 * 0.5, 20.0 + 3, 30.0 + 4.0])


def test_save_needs_a_rating(setup):
    d, store = setup
    rs = make(d, store)
    assert rs.save_button.disabled and rs.save() is False
    assert store.answers(d.name).empty


def test_a_new_widget_resumes_where_the_reader_stopped(setup):
    d, store = setup
    rs = make(d, store)
    for _ in range(4):
        rs.rate(4)
        rs.save()
    again = make(d, store)
    assert (again.task.session, again.task.position) == (1, 5)
    assert "resuming at case 5 of 6" in again.status.value
    assert len(store.answers(d.name)) == 4


def test_sessions_pause_between_them_and_the_end_says_thanks(setup):
    d, store = setup
    rs = make(d, store)
    for _ in range(6):
        rs.rate(1)
        rs.save()
    assert rs.controls.layout.display == "none" and rs.next_session.layout.display is None
    rs.next_session.click()
    assert rs.task.session == 2 and rs.task.position == 1
    for _ in range(6):
        rs.rate(1)
        rs.save()
    assert rs.task is None and "All cases are read" in rs.status.value
    assert len(store.answers(d.name, "r1")) == 12


def test_slider_scale_needs_the_slider_moved(setup):
    from medwb.widgets import ReaderStudy

    cases = ["a", "b", "c", "d"]
    d = StudyDesign("slider", cases=cases, truth={"a": 0, "b": 1, "c": 0, "d": 1}, readers=["r"], scale="0-100")
    store = AnswerStore("sqlite://")
    rs = ReaderStudy(d, store, "r", images=volumes(), ai=lambda c: (0.5, None), clock=Clock())
    assert rs.save() is False
    rs.rating.value = 73
    assert rs.save() is True and store.answers("slider").rating.tolist() == [73.0]


def test_teacher_view_shows_progress_escaped(setup):
    from medwb.widgets import TeacherView

    d, store = setup
    rs = make(d, store)
    rs.rate(2)
    rs.save()
    tv = TeacherView(store, d.name, live=False)
    assert tv.progress.set_index("reader").loc["r1", "answered"] == 1
    assert EVIL not in tv.table.value and "&lt;img" in tv.table.value
    assert "0 of 2 readers finished" in tv.table.value


def test_teacher_view_refreshes_by_itself_while_live(setup):
    import time

    from medwb.widgets import TeacherView

    d, store = setup
    tv = TeacherView(store, d.name, live=True, interval=0.05)
    try:
        rs = make(d, store)
        rs.rate(3)
        rs.save()
        deadline = time.monotonic() + 30
        while tv.progress.answered.sum() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tv.progress.set_index("reader").loc["r1", "answered"] == 1  # nobody pressed Refresh
    finally:
        tv.stop()
