"""Run slow work (training, attributions) in a thread so the notebook stays responsive.

While a cell runs, the kernel handles no widget messages: a Stop button clicked during a blocking call
is only seen when the call has finished. Work started here returns at once; the kernel keeps
answering the page, so progress bars move and Stop/Cancel work. Cancellation is cooperative: the
work checks ``task.cancelled`` between steps (a step already running finishes, its result dropped).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundTask"]


class BackgroundTask:
    """``fn(task)`` in a daemon thread; ``on_done(result)`` or ``on_error(text)`` when it ends.

    Example:
        >>> t = BackgroundTask(lambda task: 6 * 7).start()
        >>> t.join(5).result
        42
    """

    def __init__(self, fn: Callable[[BackgroundTask], Any], on_done: Callable[[Any], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.fn, self.on_done, self.on_error = fn, on_done, on_error
        self._cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.result: Any = None
        self.error: str | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def cancel(self) -> None:
        self._cancel.set()

    def start(self) -> BackgroundTask:
        self.thread = threading.Thread(target=self._run, name="medwb-widget-task", daemon=True)
        self.thread.start()
        return self

    def join(self, timeout: float | None = None) -> BackgroundTask:
        if self.thread is not None:
            self.thread.join(timeout)
        return self

    def _run(self) -> None:
        try:
            self.result = self.fn(self)
        except Exception as exc:  # noqa: BLE001 - reported in the widget, not lost in a thread
            self.error = f"{type(exc).__name__}: {exc}"
            if self.on_error is not None:
                self.on_error(self.error + "\n" + traceback.format_exc(limit=3))
            return
        if self.on_done is not None:
            self.on_done(self.result)
