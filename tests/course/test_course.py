"""The course is a real nbgrader course: one command builds the student release, which holds no solution and no
hidden test and runs top to bottom; nbgrader's own autograde gives the teacher's version full marks and the
untouched student release zero (a temporary course directory and gradebook, nbgrader's standard commands)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _release_module():
    spec = importlib.util.spec_from_file_location("course_release", REPO / "course" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = _release_module()
# MEDWB_COURSE_ONLY="01 04" limits the release and autograde tests to some notebooks (while writing one)
NOTEBOOKS = release.course_notebooks(os.environ.get("MEDWB_COURSE_ONLY", "").split() or None)
BEGIN, END = re.compile(r"^\s*### BEGIN (SOLUTION|HIDDEN TESTS)"), re.compile(r"^\s*### END (SOLUTION|HIDDEN TESTS)")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _regions(text: str) -> list[str]:
    """The lines inside BEGIN/END SOLUTION and BEGIN/END HIDDEN TESTS markers."""
    inside, out = False, []
    for line in text.splitlines():
        if BEGIN.match(line):
            inside = True
        elif END.match(line):
            inside = False
        elif inside and line.strip():
            out.append(line.strip())
    return out


def _graded(path: Path) -> list[dict]:
    return [c for c in _cells(path) if _nbgrader(c).get("grade") and c["cell_type"] == "code"]


def test_the_course_is_every_tutorial():
    stems = [p.stem[:2] for p in release.course_notebooks()]
    assert stems[:5] == ["01", "02", "03", "04", "05"], stems
    assert stems == [p.stem[:2] for p in sorted((REPO / "notebooks").glob("*.ipynb"))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_has_at_least_three_graded_exercises_each_with_an_answer_and_hidden_tests(path):
    cells = _cells(path)
    tests = _graded(path)
    assert len(tests) >= 3, f"{path.name}: {len(tests)} graded test cells"
    ids = [_nbgrader(c)["grade_id"] for c in cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade_id"
    for cell in tests:
        meta = _nbgrader(cell)
        assert meta["points"] > 0 and meta["locked"], meta
        assert "### BEGIN HIDDEN TESTS" in _source(cell) and "assert" in " ".join(_regions(_source(cell))), (
            f"{path.name} {meta['grade_id']}: its tests must all be hidden (the release must run)")
    answers = [c for c in cells if _nbgrader(c).get("solution")]
    assert len(answers) >= len(tests)
    for cell in answers:
        text = _source(cell)
        assert "### BEGIN SOLUTION" in text and re.search(r"^answer_\w+ = None", text, re.M), (
            f"{path.name} {_nbgrader(cell)['grade_id']}: an answer cell starts from answer_N = None")
        assert "teaching.check_form(" in text or "teaching.feedback(" in text, "an in-session check follows"
    assert not [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])], (
        "no separate 'teacher's solution' cells: solutions live in nbgrader solution regions")


def test_binder_opens_on_the_student_release_of_the_first_notebook_which_explains_teaching_mode():
    first = release.course_notebooks()[0]
    target = f"course/release/{first.stem}/{first.name}"   # where `python course/release.py` (postBuild) writes it
    assert release.HERE == REPO / "course"
    for doc in (REPO / "binder" / "README.md", REPO / "README.md"):
        assert f"urlpath=lab/tree/{target})" in doc.read_text(), f"{doc.name}: the Binder badge opens {target}"
    post_build = (REPO / "binder" / "postBuild").read_text()
    assert re.search(r'^"\$py" course/release\.py$', post_build, re.M), "postBuild builds the student release"
    assert re.search(r"^-e \.\[[^\]]*\bcourse\b", (REPO / "binder" / "requirements.txt").read_text(), re.M), (
        "Binder installs nbgrader (the course extra)")
    text = "".join(_source(c) for c in _cells(first) if c["cell_type"] == "markdown")
    assert "Teaching mode" in text and "set_teaching(True)" in text and "not done yet" in text

# -- the release, and nbgrader's autograde (one build and one autograde run shared by the tests below) -------

@pytest.fixture(scope="module")
def course(tmp_path_factory, demo_cohort):
    pytest.importorskip("nbgrader")
    root = tmp_path_factory.mktemp("course")
    released = release.build_release(root, NOTEBOOKS)
    return root, dict(zip([p.stem for p in NOTEBOOKS], released))


@pytest.fixture(scope="module")
def autograded(course):
    """nbgrader autograde on two submissions of every assignment: the teacher's version (the source, with its
    solutions) and the student release as handed out, untouched."""
    from nbgrader.api import Gradebook

    root, released = course
    for name, student_copy in released.items():
        for student, nb in (("teacher", REPO / "notebooks" / f"{name}.ipynb"), ("untouched", student_copy)):
            folder = root / "submitted" / student / name
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nb, folder / f"{name}.ipynb")
        release.nbgrader(root, "autograde", name, "--force", "--log-level=WARN")
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "medwb") as gb:
        for name in released:
            assignment = gb.find_assignment(name)
            for student in ("teacher", "untouched"):
                sub = gb.find_submission(name, student)
                scores[name, student] = (sub.score, assignment.max_score)
    return root, scores


@pytest.mark.slow
def test_one_command_builds_a_release_for_every_notebook(course):
    root, released = course
    assert sorted(released) == [p.stem for p in NOTEBOOKS]
    assert all(p.is_file() and p.parent == root / "release" / p.stem for p in released.values())


@pytest.mark.slow
def test_the_release_holds_no_solution_no_hidden_test_and_no_output(course):
    _, released = course
    for path in released.values():
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
            assert marker not in text, f"{path.name} still has {marker!r}"
        source = {(_nbgrader(c).get("grade_id")): c for c in _cells(REPO / "notebooks" / path.name) if _nbgrader(c)}
        shipped = {_nbgrader(c).get("grade_id"): c for c in _cells(path) if _nbgrader(c)}
        assert source.keys() == shipped.keys()
        for grade_id, cell in source.items():
            secret = _regions(_source(cell))
            leaked = [ln for ln in secret if ln in _source(shipped[grade_id])]
            assert not leaked, f"{path.name} {grade_id}: {leaked}"
        for cell in _cells(path):
            assert not cell.get("outputs") and "solution" not in cell.get("metadata", {}).get("tags", [])
            if _nbgrader(cell).get("grade"):
                assert not [ln for ln in _source(cell).splitlines() if ln.strip() and not ln.lstrip().startswith("#")], (
                    f"{path.name}: a test cell of the release runs nothing")


@pytest.mark.slow
def test_the_release_uses_no_name_that_only_a_solution_or_a_hidden_test_defined(course):
    # ruff on the source cannot see it: a name defined inside a solution or hidden-test region and used in a
    # later cell (a check, a figure) is undefined in the student release and breaks its Run All
    root, _ = course
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), "check", "--no-cache", "--isolated", "--select", "F821", str(root / "release")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]

@pytest.mark.slow
@pytest.mark.notebook
def test_autograde_gives_the_teachers_version_full_marks(autograded):
    _, scores = autograded
    full = {name: score for (name, who), score in scores.items() if who == "teacher"}
    assert all(got == top and top >= 3 for got, top in full.values()), full


@pytest.mark.slow
@pytest.mark.notebook
def test_autograde_gives_the_untouched_student_release_zero(autograded):
    _, scores = autograded
    untouched = {name: score for (name, who), score in scores.items() if who == "untouched"}
    assert all(got == 0 and top >= 3 for got, top in untouched.values()), untouched


@pytest.mark.slow
@pytest.mark.notebook
def test_the_untouched_release_runs_top_to_bottom_and_says_not_done_yet(autograded):
    # autograde ran the release exactly as handed out, with the hidden tests put back into the test cells:
    # those may fail (they grade), every other cell must run, and every answer cell says "not done yet"
    root, _ = autograded
    for path in NOTEBOOKS:
        cells = _cells(root / "autograded" / "untouched" / path.stem / path.name)
        errors = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and not _nbgrader(c).get("grade")
                  and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        assert not errors, f"{path.name}: cells {errors} raised in the student release"
        for cell in (c for c in cells if _nbgrader(c).get("solution") and c["cell_type"] == "code"):
            out = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                          if o.get("output_type") == "stream")
            assert "not done yet" in out, f"{path.name} {_nbgrader(cell)['grade_id']}: {out!r}"


@pytest.mark.slow
@pytest.mark.notebook
def test_the_teachers_version_runs_without_any_error(autograded):
    root, _ = autograded
    for path in NOTEBOOKS:
        cells = _cells(root / "autograded" / "teacher" / path.stem / path.name)
        errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(cells) if c["cell_type"] == "code"
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: {errors}"
