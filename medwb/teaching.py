"""Helpers for the course notebooks: exercise feedback and the course's teaching model.

feedback() prints what a student needs after running a check (not answered yet / correct / not quite,
with a hint) and returns whether the answer was right, so every notebook's check cell reads the same.
course_model() gives notebooks 03 and 05 the teaching net that notebook 02 trains: it reuses 02's
checkpoint when that was trained on the same cases with the same preprocessing, and trains the same
recipe otherwise, so each notebook still runs on its own. torch is imported only by course_model.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["feedback", "close_enough", "course_checkpoint_path", "course_preprocess", "course_split",
           "course_model"]


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
        Exercise 1: not answered yet. Hint: use km.median().
        False
        >>> feedback(1, 42, True, "use km.median()")
        Exercise 1: correct, well done!
        True
    """
    hint = hint.rstrip(".")
    if answer is None:
        print(f"Exercise {exercise}: not answered yet. Hint: {hint}.")
        return False
    if ok:
        print(f"Exercise {exercise}: correct, well done!")
        return True
    shown = repr(answer)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    print(f"Exercise {exercise}: not quite ({shown}). Hint: {hint}.")
    return False


def course_checkpoint_path() -> Path:
    """Where notebook 02 saves the course model and notebooks 03 and 05 look for it (a temp folder)."""
    return Path(tempfile.gettempdir()) / "medwb-course" / "teaching_net.pt"


def course_preprocess() -> Any:
    """The course's preprocessing: brain window, 4 mm voxels, 32 × 48 × 48 (128 × 192 × 192 mm).

    Coarser than medwb.models.Preprocess() (3 mm, 64³): a demo case is 160 mm thick, so 64 slices
    at 3 mm would be 40% padding; 4 mm keeps the lesions' rims visible and makes training and
    attribution about five times cheaper, which a class on Binder needs.
    """
    from medwb.models import Preprocess

    return Preprocess(window="brain", spacing=4.0, shape=(32, 48, 48))


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
        >>> # net, pp, info = course_model(medwb.demo.load_cohort())
        >>> # info["reused"], info["provenance"]["seed"]
    """
    from medwb.models import (
        Augment,
        CheckpointError,
        TeachingNet3D,
        cohort_fingerprint,
        load_checkpoint,
        save_checkpoint,
        seed_everything,
        train,
    )

    path = Path(path) if path is not None else course_checkpoint_path()
    pp = course_preprocess()
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
    seed_everything(seed)
    net = TeachingNet3D()
    history = train(net, train_cases, epochs=epochs, seed=seed, preprocess=pp, augment=Augment(rotate_degrees=0.0),
                    progress=progress)
    save_checkpoint(path, net, preprocess=pp, seed=seed, data_hash=data_hash, history=history)
    net, info = load_checkpoint(path)
    info["reused"] = False
    return net, pp, info
