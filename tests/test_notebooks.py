"""Every tutorial runs top to bottom on the demo cohort, and git keeps them without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def demo_identifiers(demo_cohort):
    """Identifying values in the demo cohort's DICOM headers (names, dates, contacts): read once."""
    from medwb.deid import identifiers_from_dicom

    return identifiers_from_dicom(demo_cohort.root / "dicom", kinds=("names", "dates", "contacts"),
                                  name_parts=False)


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, demo_cohort, demo_identifiers, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # the kernel inherits it
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # the teacher's version is the nbgrader source: its own answers pass the in-session check of each exercise
    # (a check too strict would tell a student with the right answer "not quite")
    verdicts = ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
                for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    rejected = [v for v in verdicts if "not quite" in v or "not done yet" in v
                or not ("answered" in v or "correct" in v)]
    assert not rejected, f"the in-session check rejects the teacher's own answers: {rejected}"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 1, "a tutorial shows at least one figure"
    out = Path(os.environ.get("MEDWB_ARTIFACTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / path.name)
    # no identifying value of the cohort's DICOM headers (names, dates, contacts) in what the notebook shows
    from medwb.deid import scan_phi

    found = scan_phi(out / path.name, identifiers=demo_identifiers)
    assert found.empty, found.head().to_string()


def test_notebooks_are_committed_without_outputs():
    assert NOTEBOOKS, "notebooks/ has tutorials"
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
                 and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them (jupyter nbconvert --clear-output)"


def test_notebooks_are_committed_without_saved_widget_state():
    # JupyterLab's "save widget state" stores every widget's data (images, tables) in the notebook metadata
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert "widgets" not in nb.get("metadata", {}), (
            f"{path.name} carries saved widget state; delete metadata['widgets'] (and turn off Settings > "
            "Save Widget State Automatically)")
