"""TrainingMonitor: live loss and metric curves, progress and a Stop button while a model trains.

Two ways to use it:

* as the ``callback`` of medwb.models.train (the cell blocks; curves and progress update every
  epoch, but the Stop button is only seen once the cell finishes, as for any widget), or
* ``monitor.start(train, net, cohort, epochs=20)``: training runs in a background thread, the cell
  returns at once, and Stop ends training after the current epoch (train's callback returns False).
  ``monitor.history`` / ``monitor.result`` hold the outcome; ``monitor.wait()`` blocks until done.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from medwb.widgets.background import BackgroundTask
from medwb.widgets.safe_html import error_html, text

__all__ = ["TrainingMonitor"]


class TrainingMonitor(w.VBox):
    """Live training curves for medwb.models.train.

    Args:
        epochs: planned epochs (the progress bar's length; taken from ``start(..., epochs=)`` too).
        metrics: history columns drawn on the right axis (default: val_auc and val_accuracy).

    Example:
        >>> m = TrainingMonitor(epochs=3)
        >>> m({"epoch": 1, "train_loss": 0.7, "val_loss": 0.69, "val_auc": 0.5},
        ...   pd.DataFrame([{"epoch": 1, "train_loss": 0.7, "val_loss": 0.69, "val_auc": 0.5}]))
        True
        >>> m.progress.value
        1
    """

    def __init__(self, epochs: int = 30, metrics: tuple[str, ...] = ("val_auc", "val_accuracy")) -> None:
        self.metrics = metrics
        self.progress = w.IntProgress(value=0, min=0, max=max(1, epochs), description="epoch",
                                      layout=w.Layout(width="360px"))
        self.status = w.HTML()
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="warning",
                                    tooltip="stop after the current epoch (keeps the best weights)")
        self.plot = w.Image(format="png")
        self.history = pd.DataFrame()
        self.result: Any = None
        self.task: BackgroundTask | None = None
        self._stop = False
        self.stop_button.on_click(lambda _: self.stop())
        super().__init__([w.HBox([self.progress, self.stop_button, self.status]), self.plot])
        self.add_class("medwb-training-monitor")

    def stop(self) -> None:
        """Ask training to stop after the current epoch."""
        self._stop = True
        self.stop_button.disabled = True
        self.status.value = "stopping after this epoch…"

    def __call__(self, row: dict[str, Any], history: pd.DataFrame) -> bool:
        """The per-epoch callback of medwb.models.train: update the display; False asks to stop."""
        self.history = history.copy()
        self.progress.value = min(int(row.get("epoch", len(history))), self.progress.max)
        parts = [f"epoch {row.get('epoch', len(history))}/{self.progress.max}"]
        for k in ("train_loss", "val_loss", *self.metrics):
            v = row.get(k)
            if v is not None and np.isfinite(v):
                parts.append(f"{k} {v:.3f}")
        if row.get("seconds") is not None:
            parts.append(f"{row['seconds']:.1f} s/epoch")
        if not self._stop:
            self.status.value = text(" · ".join(parts))  # metric names come from the caller's history
        self.plot.value = self.figure_png()
        return not self._stop

    def figure_png(self) -> bytes:
        """Loss (left axis) and metrics (right axis) by epoch, as PNG; best epochs marked."""
        from matplotlib.figure import Figure  # drawn off-screen; pyplot's backend is left alone

        h = self.history
        fig = Figure(figsize=(6.4, 2.8), dpi=80)
        ax = fig.subplots()
        if len(h):
            for k, style in (("train_loss", "-"), ("val_loss", "--")):
                if k in h and h[k].notna().any():
                    ax.plot(h["epoch"], h[k], style, color="tab:blue", label=k)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss", color="tab:blue")
            ax2 = ax.twinx()
            for k, color in zip(self.metrics, ("tab:orange", "tab:green", "tab:red")):
                if k in h and h[k].notna().any():
                    ax2.plot(h["epoch"], h[k], "-", color=color, label=k)
            if "best" in h and h["best"].any() and self.metrics[0] in h:
                best = h[h["best"].astype(bool)]
                ax2.plot(best["epoch"], best[self.metrics[0]], "o", color="tab:orange", ms=4, label="best")
            ax2.set_ylim(0, 1.02)
            ax2.set_ylabel("metric")
            lines = ax.get_legend_handles_labels()
            lines2 = ax2.get_legend_handles_labels()
            ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="center right")
            ax.set_xlim(0.5, max(self.progress.max, int(h["epoch"].max())) + 0.5)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def start(self, train: Callable[..., Any], *args: Any, **kwargs: Any) -> TrainingMonitor:
        """Run ``train(*args, callback=self, **kwargs)`` in a background thread and return at once."""
        if self.task is not None and self.task.running:
            raise RuntimeError("training is already running in this monitor; stop it or make a new one")
        if "epochs" in kwargs:
            self.progress.max = max(1, int(kwargs["epochs"]))
        kwargs.setdefault("progress", False)
        self._stop = False
        self.stop_button.disabled = False
        self.progress.bar_style = ""

        def work(task: BackgroundTask) -> Any:
            return train(*args, callback=self, **kwargs)

        def done(result: Any) -> None:
            self.result = result
            if isinstance(result, pd.DataFrame):
                self.history = result
            self.progress.bar_style = "success"
            self.stop_button.disabled = True
            best = getattr(result, "attrs", {}).get("best_epoch")
            self.status.value += f" · finished{f' (best epoch {best})' if best else ''}"

        def failed(message: str) -> None:
            self.progress.bar_style = "danger"
            self.stop_button.disabled = True
            self.status.value = error_html(f"training failed: {message}")

        self.task = BackgroundTask(work, done, failed).start()
        return self

    def _repr_mimebundle_(self, **kwargs: object) -> Any:
        import base64

        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if len(self.history):
            data["image/png"] = base64.b64encode(self.figure_png()).decode()
        data["text/plain"] = f"TrainingMonitor({len(self.history)} epochs)"
        return bundle

    def wait(self, timeout: float | None = None) -> Any:
        """Block until background training ends; return train's result (the history)."""
        if self.task is not None:
            self.task.join(timeout)
        return self.result
