"""ReaderStudy: a reader reads the cases of a study one at a time; TeacherView: who has read what, live.

The case is shown in a CaseViewer: no overlay in the image arm; in an AI arm the model's probability
and its attribution overlay. The reader rates (1-5 buttons or a 0-100 slider, as the design says),
may mark the suspected lesion at the crosshair (stored in LPS millimetres) and presses "Save and next";
the answer is committed to the store at once, with the seconds spent on the case. A reader who comes
back (new kernel, restarted Voilà server) resumes at the first unanswered case.

Blinding: the reader sees "case 12 of 40" and the arm, never the case id, the truth or the file; every
string shown is escaped (medwb.widgets.safe_html.text). Keyboard: Tab moves between the controls, Space/Enter presses a
button, arrow keys move the slider; in the planes, click (or Tab to) a plane and use the arrow keys
to scroll and move the crosshair.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w
import numpy as np

from medwb.readers import StudyDesign, Task
from medwb.widgets.case_viewer import CaseViewer
from medwb.widgets.safe_html import text

__all__ = ["ReaderStudy", "TeacherView"]

_FIVE = [("1 · definitely not", 1), ("2 · probably not", 2), ("3 · unsure", 3), ("4 · probably", 4),
         ("5 · definitely", 5)]




class ReaderStudy(w.VBox):
    """The reading interface of one reader.

    Args:
        study: a StudyDesign or the name of one saved in ``store``.
        store: a medwb.readers.AnswerStore.
        reader: the reader's id (must be in the design).
        images: where volumes come from: a Cohort (``.volume(case)``) or a callable ``case -> Volume``.
        ai: the AI arms' output: a callable ``case -> (probability, attribution or None)`` or a mapping.
        ai_arms: the arms that show the AI output (default: every arm but the first).
        size: pixels across the largest plane.
        clock: the time source for reading times (seconds).

    Example:
        >>> import numpy as np, medwb
        >>> from medwb.readers import StudyDesign, AnswerStore
        >>> d = StudyDesign("s", cases=["a", "b"], truth={"a": 0, "b": 1}, readers=["r1"])
        >>> store = AnswerStore("sqlite://"); _ = store.save_design(d)
        >>> vol = medwb.Volume.from_geometry(np.zeros((4, 8, 8), np.int16))
        >>> rs = ReaderStudy(d, store, "r1", images=lambda case: vol, ai=lambda case: (0.7, None))
        >>> rs.rate(4); rs.save(), rs.task.position
        (True, 2)
    """

    def __init__(self, study: StudyDesign | str, store: Any, reader: str, images: Any,
                 ai: Callable[[str], tuple[float, Any]] | Mapping[str, tuple[float, Any]] | None = None, *,
                 ai_arms: Sequence[str] | None = None, size: int = 320,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        if isinstance(study, StudyDesign):
            self.design = store.save_design(study)  # the stored design (it may list readers added elsewhere)
        else:
            self.design = store.design(study)
        self.design.check_reader(reader)
        self.reader = reader
        self._images = images
        self._ai = ai
        self.ai_arms = tuple(ai_arms) if ai_arms is not None else self.design.arms[1:]
        if self._ai is None and self.ai_arms:
            raise ValueError(f"arms {list(self.ai_arms)} show the model's output but no ai= was given. "
                             "Fix: pass ai=lambda case: (probability, attribution), or ai_arms=().")
        self._clock = clock
        self._size = size
        self.task: Task | None = None
        self.volume: Any = None
        self.lesion_index: tuple[int, int, int] | None = None
        self._started = 0.0

        self.header = w.HTML()
        self.arm = w.HTML()
        self.ai_box = w.HTML()
        self.viewer: CaseViewer | None = None
        self._viewer_box = w.Box()
        if self.design.scale == "1-5":
            self.rating = w.ToggleButtons(options=_FIVE, value=None, description="Lesion present?",
                                          style={"button_width": "130px", "description_width": "initial"})
        else:
            self.rating = w.IntSlider(value=50, min=0, max=100, description="Confidence (0-100)",
                                      style={"description_width": "initial"}, layout=w.Layout(width="420px"))
        self._touched = False
        self.rating.observe(self._on_rating, names="value")
        self.mark = w.Button(description="Mark lesion at crosshair", icon="crosshairs",
                             tooltip="stores the crosshair position (LPS mm) as the suspected lesion")
        self.clear_mark = w.Button(description="Clear mark", disabled=True)
        self.mark_label = w.HTML()
        self.mark.on_click(lambda _: self.mark_lesion())
        self.clear_mark.on_click(lambda _: self._set_mark(None))
        self.save_button = w.Button(description="Save and next", button_style="primary", disabled=True,
                                    icon="check", tooltip="commit this answer and show the next case")
        self.save_button.on_click(lambda _: self.save())
        self.next_session = w.Button(description="Start the next session", button_style="info",
                                     layout=w.Layout(display="none"))
        self.next_session.on_click(lambda _: self._advance(force=True))
        self.status = w.HTML()
        lesion_row = [self.mark, self.clear_mark, self.mark_label] if self.design.lesion_click else []
        self.controls = w.VBox([self.rating, w.HBox(lesion_row), w.HBox([self.save_button])])
        self.help = w.HTML("<small>Keys: Tab moves between controls, Space or Enter presses a button, arrows "
                           "move the slider; click a plane, then arrows scroll it and move the crosshair.</small>")
        super().__init__([self.header, self.arm, self.ai_box, self._viewer_box, self.controls,
                          self.next_session, self.status, self.help])
        self.add_class("medwb-reader-study")
        self._advance(resume=True)

    # -- flow -----------------------------------------------------------------------------
    def _advance(self, resume: bool = False, force: bool = False) -> None:
        nxt = self.store.next_task(self.design.name, self.reader)
        if nxt is None:
            self.task = None
            self._finished()
            return
        if self.task is not None and nxt.session != self.task.session and not force:
            self._pause(nxt)
            return
        if resume and nxt.position > 1 or resume and nxt.session > 1:
            self.status.value = (f"Welcome back: resuming at case {nxt.position} of {nxt.total}"
                                 f" (session {nxt.session}).")
        self._show(nxt)

    def _show(self, task: Task) -> None:
        self.task = task
        self.next_session.layout.display = "none"
        self.controls.layout.display = None
        volume = self._images.volume(task.case) if hasattr(self._images, "volume") else self._images(task.case)
        attribution, probability = None, None
        if task.arm in self.ai_arms:
            out = self._ai[task.case] if isinstance(self._ai, Mapping) else self._ai(task.case)  # type: ignore[index,misc]
            probability, attribution = out
        self.volume = volume
        if self.viewer is None:
            self.viewer = CaseViewer(volume, attribution, size=self._size, teaching=False)
            self._viewer_box.children = [self.viewer]
        else:
            self.viewer.load(volume, attribution)
        d = self.design
        self.header.value = (f"<b>{text(d.name)}</b> · reader {text(self.reader)} · session {task.session} of "
                             f"{d.n_sessions} · <span class='medwb-case-counter'>case {task.position} of "
                             f"{task.total}</span>")
        ai = task.arm in self.ai_arms
        self.arm.value = (f"<span class='medwb-arm'>Arm: <b>{text(task.arm)}</b>"
                          f"{' (model output shown)' if ai else ' (image only)'}</span>")
        self.ai_box.value = (f"<span class='medwb-ai-probability'>Model's probability of a lesion: "
                             f"<b>{float(probability):.2f}</b>"
                             f"{'' if attribution is None else '; its attribution map is overlaid'}</span>"
                             if ai else "")
        self._reset_answer()
        self._started = self._clock()

    def _reset_answer(self) -> None:
        if isinstance(self.rating, w.ToggleButtons):
            self.rating.value = None
        else:
            self.rating.value = 50
        self._touched = False  # set after the value: resetting the slider is not a rating
        self.save_button.disabled = True
        self._set_mark(None)

    def _pause(self, nxt: Task) -> None:
        self.controls.layout.display = "none"
        self.next_session.description = f"Start session {nxt.session}"
        self.next_session.layout.display = None
        self.status.value = (f"Session {self.task.session if self.task else nxt.session - 1} is done. Take a break; "
                             f"session {nxt.session} shows the cases again, in a new order and the other arm.")

    def _finished(self) -> None:
        self.controls.layout.display = "none"
        self.next_session.layout.display = "none"
        self.header.value = f"<b>{text(self.design.name)}</b> · reader {text(self.reader)}"
        self.arm.value = self.ai_box.value = ""
        self._viewer_box.children = []
        self.status.value = ("<span class='medwb-done'>All cases are read. Thank you! Your answers are saved."
                             "</span>")

    # -- answering ------------------------------------------------------------------------
    def _on_rating(self, change: dict) -> None:
        self._touched = change["new"] is not None
        self.save_button.disabled = not self._touched

    def rate(self, value: float) -> None:
        """Set the rating (as clicking a button or moving the slider does)."""
        self.rating.value = value
        self._touched = True
        self.save_button.disabled = False

    def mark_lesion(self, index: Sequence[int] | None = None) -> None:
        """Mark the suspected lesion at ``index`` (slice, row, column), default the crosshair."""
        if self.viewer is None:
            return
        self._set_mark(tuple(int(i) for i in (index if index is not None else self.viewer.position)))

    def _set_mark(self, index: tuple[int, int, int] | None) -> None:
        self.lesion_index = index
        self.clear_mark.disabled = index is None
        if index is None or self.volume is None:
            self.mark_label.value = "<small>no lesion marked</small>"
        else:
            x, y, z = self.lesion_mm  # type: ignore[misc]
            self.mark_label.value = f"<small>lesion marked at LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm</small>"

    @property
    def lesion_mm(self) -> tuple[float, float, float] | None:
        """The marked point in LPS millimetres, or None."""
        if self.lesion_index is None or self.volume is None:
            return None
        return tuple(float(v) for v in np.asarray(self.volume.index_to_world(self.lesion_index)).ravel()[:3])  # type: ignore[return-value]

    def save(self) -> bool:
        """Commit the answer on screen and show the next case; False if it had already been answered
        (elsewhere: another tab or machine) and the stored answer was kept."""
        if self.task is None or not self._touched:
            self.status.value = "Choose a rating first."
            return False
        seconds = round(self._clock() - self._started, 3)
        try:
            new = self.store.record(self.design.name, self.reader, self.task, float(self.rating.value),
                                    lesion=self.lesion_mm, seconds=seconds)
        except Exception as exc:  # noqa: BLE001 - shown to the reader; the case stays on screen to retry
            self.status.value = f"<span style='color:#b00020'>Not saved: {text(exc)}</span>"
            return False
        self.status.value = "" if new else "This case had already been answered; the first answer was kept."
        self._advance()
        return new

    # -- static fallback ------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self.viewer is not None and self.task is not None:
            import base64

            data["image/png"] = base64.b64encode(self.viewer.to_png()).decode()
        data["text/plain"] = f"ReaderStudy({self.design.name!r}, reader={self.reader!r})"
        return bundle


class TeacherView(w.VBox):
    """Who has finished what: a table of every reader's progress, refreshed every ``interval`` seconds
    while ``live`` (a background thread), or on the Refresh button.

    Example:
        >>> from medwb.readers import StudyDesign, AnswerStore
        >>> d = StudyDesign("s", cases=["a", "b"], truth={"a": 0, "b": 1}, readers=["r1", "r2"])
        >>> store = AnswerStore("sqlite://"); _ = store.save_design(d)
        >>> TeacherView(store, "s", live=False).progress.answered.tolist()
        [0, 0]
    """

    def __init__(self, store: Any, study: str, *, live: bool = True, interval: float = 5.0) -> None:
        self.store, self.study, self.interval = store, study, interval
        self.table = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.live = w.Checkbox(value=live, description=f"live (every {interval:g} s)", indent=False)
        self.live.observe(lambda ch: self.start() if ch["new"] else None, names="value")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        super().__init__([w.HBox([self.refresh_button, self.live]), self.table])
        self.add_class("medwb-teacher-view")
        self.refresh()
        if live:
            self.start()

    def refresh(self) -> None:
        p = self.store.progress(self.study)
        self.progress = p
        rows = "".join(
            f"<tr><td>{text(r.reader)}</td><td>{r.answered} / {r.total}</td><td>{r.session}</td>"
            f"<td>{'done' if r.done else f'case {r.position}'}</td><td>{text(r.last_answer or '')}</td></tr>"
            for r in p.itertuples())
        done = int(p.done.sum())
        self.table.value = (f"<b>{text(self.study)}</b>: {done} of {len(p)} readers finished"
                            "<table class='medwb-progress'><tr><th>reader</th><th>answered</th><th>session</th>"
                            f"<th>at</th><th>last answer (UTC)</th></tr>{rows}</table>")

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="medwb-teacher-view", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.live.value = False

    def _loop(self) -> None:
        while not self._stop.wait(self.interval) and self.live.value:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a busy database: try again at the next tick
                continue

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = self.table.value
        return bundle
