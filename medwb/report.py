"""Headless demo: run the tutorials on the demo cohort and write an offline HTML report.

``build_report(out_dir)`` executes each notebook in notebooks/ in its own Python kernel (nbclient), then
converts it to a self-contained HTML page (nbconvert, JupyterLab look, figures embedded as PNG, no script or
style fetched from the web) and writes ``index.html`` with a summary table plus ``summary.json``.
The command line is ``python -m medwb report OUT_DIR [--notebooks 01 04]``.
Timing and peak memory of each kernel (its whole process tree) are measured on the way, which is what
bench/bench_course.py reports. Interactive widgets cannot run in a static page: their outputs are replaced
by a note. This module never imports a Jupyter front-end package; nbclient/nbconvert load on first use.
"""

from __future__ import annotations

import html
import json
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["NotebookRun", "find_notebooks", "execute_notebook", "notebook_html", "build_report",
           "external_references"]

_INSTALL = "pip install 'medwb[report]'  (nbclient, nbconvert, ipykernel, psutil)"
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Overrides of JupyterLab's nbconvert template: every block that would load a script from a CDN is emptied
# (require.js, MathJax, Mermaid, the widgets HTML manager), so the page renders offline and leaks nothing.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
# a resource the browser would fetch by itself: script/img/link/iframe sources, CSS url() and @import
_EXTERNAL = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)"""
                       r"""|(?:@import\s+["'](?:https?:)?//)""", re.IGNORECASE)
_ANCHOR = re.compile(r"<a\s[^>]*>", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colours in kernel error messages
# what HTML outputs keep on a report page (JupyterLab's untrusted-notebook rule): formatting, never anything that runs
_HTML_TAGS = frozenset("a abbr b blockquote br caption code col colgroup dd del details div dl dt em figcaption figure "
                       "h1 h2 h3 h4 h5 h6 hr i img ins kbd li ol p pre q s samp small span strong style sub summary "
                       "sup table tbody td tfoot th thead tr u ul var".split())


@dataclass
class NotebookRun:
    """One executed notebook: the executed nbformat node, its cost, and what went wrong (if anything).

    ``peak_rss`` is the largest resident memory (bytes) of the kernel's process tree seen while it ran,
    sampled every ``sample_interval`` seconds; ``seconds`` includes kernel start-up. ``extra`` holds
    ``cpu_seconds`` (the tree's user + system CPU time, as last sampled: robust to a busy machine),
    ``code_cells`` and ``kernel_python`` (the interpreter the kernel ran).
    """

    path: Path
    notebook: Any
    seconds: float
    peak_rss: int
    error: str | None = None
    title: str = ""
    cells: int = 0
    figures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"the headless report needs {module!r}, which is not installed.\nFix: {_INSTALL}") from exc


def default_notebook_dir() -> Path:
    """notebooks/ of the source checkout medwb runs from (an editable install, as set-up makes)."""
    return Path(__file__).resolve().parents[1] / "notebooks"


def find_notebooks(selection: Sequence[str] | None = None, folder: str | Path | None = None) -> list[Path]:
    """The tutorials to run, in course order.

    Args:
        selection: names or prefixes ("01", "04_survival", "05_case_review.ipynb"); None or [] means all.
        folder: where the notebooks are (default: notebooks/ of the checkout).

    Example:
        >>> [p.name for p in find_notebooks(["01"])]
        ['01_cohort_tour.ipynb']
    """
    root = Path(folder) if folder is not None else default_notebook_dir()
    available = sorted(p for p in root.glob("*.ipynb") if not p.name.startswith("."))
    if not available:
        raise FileNotFoundError(f"no notebooks in {root}.\nFix: pass notebook_dir= (CLI: --notebook-dir) "
                                "pointing at medwb's notebooks/ folder.")
    if not selection:
        return available
    chosen: list[Path] = []
    for sel in selection:
        stem = sel[:-6] if sel.endswith(".ipynb") else sel
        hits = [p for p in available if p.stem == stem or p.stem.startswith(stem)]
        if not hits:
            raise ValueError(f"no notebook matches {sel!r} in {root}; available: "
                             f"{', '.join(p.stem for p in available)}.\nFix: use one of those names or a prefix "
                             "such as '01'.")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen)


class _RssSampler:
    """Track the peak summed RSS of the processes this process starts while it runs (the kernel and
    anything it spawns); children that were already running (a server a test session started) are not
    counted."""

    def __init__(self, interval: float) -> None:
        self.interval, self.peak = interval, 0
        self.cpu: dict[int, float] = {}  # pid -> user + system seconds at its last sample
        self._before: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _new_processes(self) -> list[Any]:
        import psutil

        out = []
        for child in psutil.Process(os.getpid()).children():
            if child.pid in self._before:
                continue
            try:
                out += [child, *child.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return out

    def _sample(self) -> None:
        import psutil

        total = 0
        for child in self._new_processes():
            try:
                total += child.memory_info().rss
                t = child.cpu_times()
                self.cpu[child.pid] = t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> _RssSampler:
        psutil = _need("psutil")
        self._before = {c.pid for c in psutil.Process(os.getpid()).children()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _title(nb: Any, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def _count_figures(nb: Any) -> int:
    return sum(any(k.startswith("image/") for k in o.get("data", {}))
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def execute_notebook(path: str | Path, *, timeout: int = 600, kernel_name: str = "python3",
                     env: dict[str, str] | None = None, sample_interval: float = 0.1) -> NotebookRun:
    """Run one notebook top to bottom in a fresh kernel (working directory: the notebook's folder).

    The kernel inherits this process's environment (so MEDWB_DEMO_DIR chooses the cohort) plus ``env``,
    with matplotlib's inline backend so figures land in the outputs. A failing cell stops the notebook;
    the error is recorded in ``NotebookRun.error`` and the outputs up to it are kept.

    Example:
        >>> import nbformat
        >>> cell = nbformat.v4.new_code_cell("import matplotlib.pyplot as plt; plt.plot([0, 1], [1, 0]);")
        >>> nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "plot.ipynb")
        >>> run = execute_notebook(tmp_path / "plot.ipynb")          # a fresh kernel: a few seconds
        >>> run.ok, run.figures, run.peak_rss < 2 * 2**30
        (True, 1, True)
    """
    nbformat = _need("nbformat")
    nbclient = _need("nbclient")
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, "MPLBACKEND": _INLINE_BACKEND, **(env or {})}
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                     resources={"metadata": {"path": str(path.parent)}})
    kernel: dict[str, str] = {}

    def _kernel_started(**_: Any) -> None:  # record the interpreter the kernel really runs
        import psutil

        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        try:
            kernel["python"] = psutil.Process(pid).cmdline()[0] if pid else ""
        except (psutil.Error, IndexError):
            kernel["python"] = ""

    client.on_notebook_start = _kernel_started
    error = None
    t0 = time.perf_counter()
    with _RssSampler(sample_interval) as rss:
        try:
            client.execute(env=kernel_env)
        except CellTimeoutError as exc:
            error = f"a cell ran longer than {timeout} s: {str(exc).strip().splitlines()[-1]}"
        except DeadKernelError as exc:
            error = f"the kernel died (out of memory?): {exc}"
        except CellExecutionError as exc:
            lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
            error = lines[-1] if lines else repr(exc)
    seconds = time.perf_counter() - t0
    code = [c for c in nb.cells if c.cell_type == "code"]
    return NotebookRun(path=path, notebook=nb, seconds=seconds, peak_rss=rss.peak, error=error,
                       title=_title(nb, path.stem), cells=sum(c.get("execution_count") is not None for c in code),
                       figures=_count_figures(nb), extra={"code_cells": len(code), "kernel_python": kernel.get("python", ""),
                                                          "cpu_seconds": sum(rss.cpu.values())})


def _replace_widgets(nb: Any) -> None:
    note = "[interactive widget: open this notebook in JupyterLab to use it]"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if _WIDGET_MIME in data:  # keep a static fallback (e.g. a PNG) when the widget offers one
                data.pop(_WIDGET_MIME)
                if set(data) <= {"text/plain"}:
                    data["text/plain"] = f"{note}\n{data.get('text/plain', '')}".strip()
    nb.metadata.pop("widgets", None)


def _clean_outputs(nb: Any) -> None:
    """Data is text, never markup: the HTML a cell displayed (often built around values from data) loses what
    runs (scripts, ``on...`` handlers, javascript: URLs, frames, forms); JavaScript outputs are shown, not run."""
    import bleach  # nbconvert's own dependency
    from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer

    css = CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES | {"vertical-align", "text-align", "padding"})
    cleaner = bleach.Cleaner(tags=_HTML_TAGS, attributes=lambda tag, name, value: not name.lower().startswith("on"),
                             protocols={"http", "https", "mailto", "data"}, strip=True, css_sanitizer=css)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                raw = data["text/html"]
                data["text/html"] = cleaner.clean("".join(raw) if isinstance(raw, list) else raw)
            for mime in ("application/javascript", "text/javascript"):
                if mime in data:
                    data.setdefault("text/plain", f"[JavaScript output, not run in this page]\n{data.pop(mime)}")


def notebook_html(nb: Any, title: str = "") -> str:
    """A self-contained HTML page of an executed notebook (figures as embedded PNG, nothing fetched online).

    HTML outputs keep their formatting but lose scripts and event handlers (as JupyterLab shows an untrusted
    notebook); text, errors and the title are escaped. Markdown cells are the author's and stay as written.

    Example:
        >>> import nbformat
        >>> png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
        >>> figure = nbformat.v4.new_output("display_data", data={"image/png": png})  # as a kernel sends it
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()", outputs=[figure])])
        >>> page = notebook_html(nb, title="A tour")
        >>> "data:image/png;base64," in page, external_references(page)
        (True, [])
    """
    import copy

    _need("nbconvert")
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    _replace_widgets(nb)
    _clean_outputs(nb)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(template_name="lab", embed_images=True,
                            extra_loaders=[DictLoader({"medwb_offline.html.j2": _OFFLINE_TEMPLATE})],
                            template_file="medwb_offline.html.j2")
    body, _ = exporter.from_notebook_node(nb)
    return body


def external_references(page: str) -> list[str]:
    """Snippets of ``page`` that would make a browser fetch something from another host (links excluded).

    Example:
        >>> external_references('<script src="https://cdn.example/x.js"></script><a href="https://a.b">a</a>')
        ['src="https://']
    """
    return _EXTERNAL.findall(_ANCHOR.sub("<a>", page))


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def _index_html(runs: list[NotebookRun], pages: list[str], info: dict[str, Any]) -> str:
    rows = []
    for run, page in zip(runs, pages):
        status = "ok" if run.ok else f"failed: {html.escape(_ANSI.sub('', run.error or ''))}"
        rows.append(f"<tr class={'ok' if run.ok else 'failed'}><td><a href=\"{html.escape(page)}\">"
                    f"{html.escape(run.path.stem)}</a></td><td>{html.escape(run.title)}</td><td>{status}</td>"
                    f"<td>{run.seconds:.1f}</td><td>{_mib(run.peak_rss)}</td><td>{run.figures}</td>"
                    f"<td>{run.cells}/{run.extra.get('code_cells', run.cells)}</td></tr>")
    total = sum(r.seconds for r in runs)
    peak = max((r.peak_rss for r in runs), default=0)
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in info.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>medwb report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ border: 1px solid #ccc; padding: .3em .6em; }}
th {{ background: #f3f3f3; text-align: left; }} td:nth-child(n+4) {{ text-align: right; }}
tr.failed td {{ background: #fde8e8; }}
</style></head>
<body>
<h1>medwb: the course on the demo cohort</h1>
<p>Each tutorial was run top to bottom in its own Python kernel, without JupyterLab. Open one to see its
text, code, tables and figures. Widgets are interactive only in JupyterLab.</p>
<table><thead><tr><th>notebook</th><th>title</th><th>status</th><th>seconds</th><th>peak MiB</th>
<th>figures</th><th>cells run</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
<tfoot><tr><th colspan=3>all notebooks</th><td>{total:.1f}</td><td>{_mib(peak)}</td>
<td>{sum(r.figures for r in runs)}</td><td></td></tr></tfoot></table>
<h2>Run</h2><table>{facts}</table>
</body></html>
"""


def build_report(out_dir: str | Path, notebooks: Sequence[str] | None = None, *,
                 notebook_dir: str | Path | None = None, timeout: int = 600,
                 progress: bool = True) -> list[NotebookRun]:
    """Execute the tutorials on the demo cohort and write ``out_dir``/index.html, one page each, summary.json.

    Args:
        out_dir: folder for the report (created).
        notebooks: names or prefixes to run (see find_notebooks); default all.
        notebook_dir: where the notebooks are (default notebooks/ of the checkout).
        timeout: seconds any one cell may take.
        progress: a tqdm bar over notebooks.

    Returns:
        The runs, in course order; a failed notebook still gets its page (with the error shown).

    Example:
        >>> import nbformat
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
        >>> nbformat.write(nb, tmp_path / "01_first.ipynb")
        >>> runs = build_report(tmp_path / "report", notebook_dir=tmp_path, progress=False)
        >>> [(r.ok, r.path.name) for r in runs], sorted(p.name for p in (tmp_path / "report").iterdir())
        ([(True, '01_first.ipynb')], ['01_first.html', 'index.html', 'summary.json'])
    """
    from tqdm.auto import tqdm

    from medwb.demo import default_dir

    paths = find_notebooks(notebooks, notebook_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[NotebookRun] = []
    pages: list[str] = []
    bar = tqdm(paths, desc="notebooks", unit="nb", disable=not progress)
    for path in bar:
        bar.set_postfix_str(path.stem)
        run = execute_notebook(path, timeout=timeout)
        page = f"{path.stem}.html"
        (out / page).write_text(notebook_html(run.notebook, run.title), encoding="utf-8")
        runs.append(run)
        pages.append(page)
    import medwb

    info = {"demo cohort": str(default_dir()), "python": sys.executable, "medwb": medwb.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    (out / "index.html").write_text(_index_html(runs, pages, info), encoding="utf-8")
    summary = {**info, "notebooks": [
        {"notebook": r.path.name, "page": p, "title": r.title, "ok": r.ok, "error": r.error,
         "seconds": round(r.seconds, 2), "peak_rss_bytes": r.peak_rss, "figures": r.figures, "cells_run": r.cells,
         "code_cells": r.extra.get("code_cells"),
         "kernel_python": r.extra.get("kernel_python")} for r, p in zip(runs, pages)],
        "total_seconds": round(sum(r.seconds for r in runs), 2),
        "peak_rss_bytes": max((r.peak_rss for r in runs), default=0)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return runs
