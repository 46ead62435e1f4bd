"""Doctest set-up: the examples in medwb/ and widgets/ docstrings are tests.

``pytest`` (the README's test command) collects them here, exactly as ``--doctest-modules`` would but for
medwb/ and widgets/ only (tests/ holds tests, not examples); ``pytest --doctest-modules medwb widgets`` runs
the same set. Every example sees ``np``, ``medwb`` and ``tmp_path`` (a fresh empty folder per docstring),
runs with matplotlib's Agg backend, and reads the demo cohort from MEDWB_DEMO_DIR (default data/demo, which
./setup.sh builds); examples never write into the demo folder.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem, DoctestModule

REPO = Path(__file__).resolve().parent
WIDGETS = REPO / "widgets"  # installed as the package medwb.widgets
DOCTEST_ROOTS = (REPO / "medwb", WIDGETS)
os.environ.setdefault("MEDWB_DEMO_DIR", str(REPO / "data" / "demo"))
os.environ.setdefault("MPLBACKEND", "Agg")

# medwb/explain.py is the old import path of medwb.attribution: it hands the import system the function
# medwb.explain itself, which pytest cannot collect as a module (and it holds no examples).
collect_ignore = ["medwb/explain.py"]


class _WidgetDoctestModule(DoctestModule):
    """A widgets/ file's docstrings, read from the module users import (medwb.widgets.x), so that the
    examples run against the one copy of the package rather than a second one imported as ``widgets.x``."""

    def _getobj(self) -> object:
        parts = [p for p in self.path.relative_to(WIDGETS).with_suffix("").parts if p != "__init__"]
        return importlib.import_module(".".join(["medwb.widgets", *parts]))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    """The docstrings of medwb/ and widgets/ (never __main__.py: collecting it would run the CLI)."""
    if parent.config.option.doctestmodules:
        return None  # --doctest-modules given: pytest's own doctest plugin collects every module
    if file_path.suffix != ".py" or file_path.name in ("__main__.py", "conftest.py"):
        return None
    if file_path.is_relative_to(WIDGETS):
        return _WidgetDoctestModule.from_parent(parent, path=file_path)
    if file_path.is_relative_to(DOCTEST_ROOTS[0]):
        return DoctestModule.from_parent(parent, path=file_path)
    return None


# Examples that need a Debian package which ./setup.sh may have had to skip: {doctest name: (file, package)}.
_ORTHANC = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "orthanc-dicomweb")
NEEDS_FILE = {
    "medwb.demo.anatomy.read_cranium": ("/usr/share/doc/invesalius-examples/examples/Cranium.inv3",
                                        "invesalius-examples"),
    "medwb.io.dicomweb.client.DicomWebSource": _ORTHANC,
    "medwb.io.dicomweb.orthanc.LocalOrthanc": _ORTHANC,
    "medwb.io.dicomweb.cohort.cohort_from_dicomweb": _ORTHANC,
}


@pytest.fixture(autouse=True)
def _doctest_namespace(request: pytest.FixtureRequest, doctest_namespace: dict) -> Iterator[None]:
    """Names every docstring example may use without importing them."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    need = NEEDS_FILE.get(request.node.name)
    if need is not None and not Path(need[0]).is_file():
        pytest.skip(f"needs {need[0]} (Debian package {need[1]}, which ./setup.sh installs when it can)")
    import numpy as np

    import medwb

    doctest_namespace["np"] = np
    doctest_namespace["medwb"] = medwb
    doctest_namespace["tmp_path"] = request.getfixturevalue("tmp_path")
    started: list = []
    if need is _ORTHANC:  # an example that fails half-way must not leave its server running
        from medwb.io.dicomweb.orthanc import LocalOrthanc

        start = LocalOrthanc.start
        request.getfixturevalue("monkeypatch").setattr(
            LocalOrthanc, "start", lambda self, *a, **k: start(started.append(self) or self, *a, **k))
    yield
    for pacs in started:
        if pacs.is_running:
            pacs.stop()
