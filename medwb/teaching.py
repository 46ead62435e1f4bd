"""Helpers for the course notebooks: exercise feedback and the course's teaching model.

The course is an nbgrader course (notebooks/ is its source; course/release.py builds the student
release): nbgrader's hidden tests grade the answers, while inside a student's session check_form() and
feedback() are the friendly checks. They print what a student needs (not done yet / what is wrong, with a
hint / fine) and never the answer: check_form() knows only what an answer must look like (a share between
0 and 1, a case id of the cohort, a pair), never its value.
course_model() gives notebooks 03 and 05 the teaching net that notebook 02 trains: it reuses 02's
checkpoint when that was trained on the same cases with the same preprocessing, and trains the same
recipe otherwise, so each notebook still runs on its own. torch is imported only by course_model.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["feedback", "check_form", "number_in", "one_of", "close_enough", "course_checkpoint_path",
           "course_preprocess", "course_split", "course_model"]

NOT_DONE = "not done yet"


def close_enough(answer: Any, expected: float, tol: float = 1e-6) -> bool:
    """True when ``answer`` is a number within ``tol`` of ``expected`` (False for None or text).

    Example:
        >>> close_enough(0.5001, 0.5, tol=1e-3), close_enough("0.5", 0.5), close_enough(None, 0.5)
        (True, False, False)
    """
    if answer is None or isinstance(answer, (bool, str, bytes)):
        return False
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and abs(value - float(expected)) <= tol


def feedback(exercise: int | str, answer: Any, ok: bool, hint: str) -> bool:
    """Print the verdict on an exercise's answer and return it (False while ``answer`` is None).

    Args:
        exercise: the exercise's number or name, as the notebook shows it.
        answer: what the student gave; None means "not answered yet".
        ok: whether the answer is right (the notebook's check decides).
        hint: what to do to get it right; shown unless the answer is correct.

    Example:
        >>> feedback(1, None, False, "use km.median()")
        Exercise 1: not done yet. Hint: use km.median().
        False
        >>> feedback(1, 42, True, "use km.median()")
        Exercise 1: correct, well done!
        True
    """
    hint = hint.rstrip(".")
    if answer is None:
        print(f"Exercise {exercise}: {NOT_DONE}. Hint: {hint}.")
        return False
    if ok:
        print(f"Exercise {exercise}: correct, well done!")
        return True
    print(f"Exercise {exercise}: not quite ({_shown(answer)}). Hint: {hint}.")
    return False


def _shown(answer: Any) -> str:
    shown = repr(answer)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def number_in(lo: float = -math.inf, hi: float = math.inf, *, integer: bool = False) -> Callable[[Any], bool]:
    """A rule for check_form(): a real number (not text, not a bool) in [lo, hi], a whole one if ``integer``.

    Example:
        >>> share = number_in(0, 1)
        >>> share(0.25), share(1.5), share("0.25"), number_in(0, integer=True)(2.5)
        (True, False, False, False)
    """
    def rule(answer: Any) -> bool:
        if not close_enough(answer, 0.0, tol=math.inf):
            return False
        value = float(answer)
        return lo <= value <= hi and (not integer or value.is_integer())
    return rule


def one_of(values: Any) -> Callable[[Any], bool]:
    """A rule for check_form(): the answer is one of ``values`` (e.g. the cohort's case ids).

    Example:
        >>> one_of(["case-000", "case-001"])("case-001"), one_of(["case-000"])("case-9")
        (True, False)
    """
    allowed = list(values)
    return lambda answer: any(answer == v for v in allowed)


def check_form(exercise: int | str, answer: Any, rules: Mapping[str, Callable[[Any], bool]], hint: str) -> bool:
    """The in-session check of an nbgrader exercise: is the answer there, and does it have the right form?

    It never knows the right value (the hidden tests grade that), so it cannot give the answer away.
    Prints "not done yet" while ``answer`` is None; otherwise the first rule the answer breaks (a rule that
    raises counts as broken) with the hint; or that the answer has the asked form. Returns True only then.

    Args:
        exercise: the exercise's number or name, as the notebook shows it.
        answer: what the student gave; None means "not done yet".
        rules: what the answer must be, in words, mapped to a test of it, e.g.
            {"a share between 0 and 1": number_in(0, 1)}; checked in order.
        hint: how to get the answer; shown unless every rule holds.

    Example:
        >>> rules = {"a share between 0 and 1": number_in(0, 1)}
        >>> check_form(1, None, rules, "count the positives the model calls positive")
        Exercise 1: not done yet. Hint: count the positives the model calls positive.
        False
        >>> check_form(1, 7, rules, "divide by the number of positives")
        Exercise 1: not quite (7): it should be a share between 0 and 1. Hint: divide by the number of positives.
        False
        >>> check_form(1, 0.75, rules, "divide by the number of positives")
        Exercise 1: answered (0.75), a share between 0 and 1. The hidden tests check its value when graded.
        True
    """
    hint = hint.rstrip(".")
    if answer is None:
        print(f"Exercise {exercise}: {NOT_DONE}. Hint: {hint}.")
        return False
    for wanted, rule in rules.items():
        try:
            ok = bool(rule(answer))
        except Exception:  # a rule that cannot even look at the answer: the answer has the wrong form
            ok = False
        if not ok:
            print(f"Exercise {exercise}: not quite ({_shown(answer)}): it should be {wanted}. Hint: {hint}.")
            return False
    wanted = ", ".join(rules) if rules else "given"
    print(f"Exercise {exercise}: answered ({_shown(answer)}), {wanted}. "
          "The hidden tests check its value when graded.")
    return True


def course_checkpoint_path() -> Path:
    """Where notebook 02 saves the course model and notebooks 03 and 05 look for it (a temp folder)."""
    return Path(tempfile.gettempdir()) / "medwb-course" / "teaching_net.pt"


def course_preprocess() -> Any:
    """The course's preprocessing: brain window, 4 mm voxels, 32 × 48 × 48 (128 × 192 × 192 mm).

    It is medwb.models.COURSE_RECIPE.preprocess (why these values: see that recipe).
    """
    from medwb.models import COURSE_RECIPE

    return COURSE_RECIPE.preprocess


def course_split(cohort: Any) -> tuple[Any, Any]:
    """(train, test) cohorts from the manifest's ``split`` column (the demo's fixed 80/20 split), or
    ``cohort.split(0.2, seed=0)`` for a cohort without one."""
    table = cohort.table
    if "split" in table.columns and set(table["split"].dropna()) >= {"train", "test"}:
        is_train = table["split"].eq("train").to_numpy()
        return cohort.subset(is_train), cohort.subset(table["split"].eq("test").to_numpy())
    return cohort.split(0.2, seed=0)


def course_model(cohort: Any, *, path: str | Path | None = None, epochs: int = 12, seed: int = 0,
                 retrain: bool = False, progress: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """The teaching net of the course, trained on ``cohort``'s training split: (model, preprocess, info).

    Reuses the checkpoint at ``path`` (default course_checkpoint_path(), where notebook 02 saves it)
    when it holds a TeachingNet3D trained on exactly these training cases with the course's
    preprocessing; otherwise trains the course recipe (seeded, ``epochs`` epochs, flips and intensity
    augmentation) and saves it there. ``info`` is load_checkpoint's info plus "reused" (bool).

    Example:
        >>> cohort = medwb.demo.load_cohort()
        >>> six = cohort.subset(cohort.case_ids[:6])            # the course uses the whole cohort
        >>> net, pp, info = course_model(six, path=tmp_path / "course.pt", epochs=1, progress=False)
        >>> info["reused"], info["provenance"]["seed"], type(net).__name__
        (False, 0, 'TeachingNet3D')
        >>> course_model(six, path=tmp_path / "course.pt", epochs=1)[2]["reused"]   # trained once, reused
        True
    """
    from dataclasses import replace

    from medwb.models import (
        COURSE_RECIPE,
        CheckpointError,
        cohort_fingerprint,
        load_checkpoint,
        save_checkpoint,
    )

    recipe = replace(COURSE_RECIPE, epochs=epochs, seed=seed)
    path = Path(path) if path is not None else course_checkpoint_path()
    pp = recipe.preprocess
    train_cases, _ = course_split(cohort)
    data_hash = cohort_fingerprint(train_cases)
    if path.exists() and not retrain:
        try:
            net, info = load_checkpoint(path)
        except CheckpointError:
            net, info = None, {}
        if (net is not None and info.get("model_class") == "TeachingNet3D" and info.get("preprocess") == pp
                and info.get("provenance", {}).get("data_hash") == data_hash):
            info["reused"] = True
            return net, pp, info
    net = recipe.build()
    history = recipe.train(net, train_cases, progress=progress)
    save_checkpoint(path, net, preprocess=pp, seed=seed, data_hash=data_hash, history=history)
    net, info = load_checkpoint(path)
    info["reused"] = False
    return net, pp, info
