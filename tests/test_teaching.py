"""The course helpers: exercise feedback that students read, and the reuse rule of the course model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medwb import teaching


def test_feedback_says_not_answered_while_the_answer_is_none(capsys):
    assert teaching.feedback(2, None, True, "count the cases.") is False
    assert capsys.readouterr().out == "Exercise 2: not done yet. Hint: count the cases.\n"


def test_feedback_praises_a_right_answer_without_a_hint(capsys):
    assert teaching.feedback("1", 0.5, True, "use predict()") is True
    out = capsys.readouterr().out
    assert out == "Exercise 1: correct, well done!\n" and "Hint" not in out


def test_feedback_shows_a_wrong_answer_shortened_with_the_hint(capsys):
    assert teaching.feedback(1, list(range(100)), False, "give one number") is False
    out = capsys.readouterr().out
    assert out.startswith("Exercise 1: not quite ([0, 1, 2") and "...). Hint: give one number." in out
    assert len(out.split("(", 1)[1].split(")")[0]) <= 80


@pytest.mark.parametrize(("answer", "ok"), [
    (0.5004, True), (np.float32(0.5), True), (1, False), ("0.5", False), (None, False), (True, False),
    (float("nan"), False), ([0.5], False),
])
def test_close_enough_accepts_numbers_near_the_expected_value_only(answer, ok):
    assert teaching.close_enough(answer, 0.5, tol=1e-3) is ok


SHARE = {"a share between 0 and 1": teaching.number_in(0, 1)}


def test_check_form_says_not_done_yet_for_an_unanswered_exercise(capsys):
    assert teaching.check_form(3, None, SHARE, "count them.") is False
    assert capsys.readouterr().out == "Exercise 3: not done yet. Hint: count them.\n"


@pytest.mark.parametrize("answer", [1.5, "0.5", True, [0.5]])
def test_check_form_names_the_broken_rule_and_hints(capsys, answer):
    assert teaching.check_form(1, answer, SHARE, "divide by the positives") is False
    out = capsys.readouterr().out
    assert f"not quite ({answer!r}): it should be a share between 0 and 1. Hint: divide by the positives." in out


def test_check_form_accepts_the_right_form_without_knowing_or_showing_a_value(capsys):
    rules = {"a pair": lambda a: len(a) == 2, "of a case id and a number": lambda a: a[0] in {"c1", "c2"}}
    assert teaching.check_form("2b", ("c2", 3.0), rules, "hint") is True
    out = capsys.readouterr().out
    assert out.startswith("Exercise 2b: answered (('c2', 3.0)), a pair, of a case id and a number.") and "Hint" not in out
    assert teaching.check_form(2, 5, rules, "hint") is False   # len(5) raises: a broken rule, not a crash
    assert "it should be a pair" in capsys.readouterr().out


def test_number_in_and_one_of_rules():
    whole = teaching.number_in(0, 10, integer=True)
    assert whole(3) and whole(np.int64(3)) and not whole(3.5) and not whole(11) and not whole(None)
    assert teaching.one_of(["a", "b"])("b") and not teaching.one_of(["a", "b"])("c")


class _Cohort:
    """Just what course_split needs: a table and subset()."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table

    def subset(self, keep: np.ndarray) -> _Cohort:
        return _Cohort(self.table[np.asarray(keep, bool)])

    def split(self, test_size: float, seed: int) -> tuple[_Cohort, _Cohort]:
        n = int(round(len(self.table) * test_size))
        keep = np.ones(len(self.table), bool)
        keep[:n] = False
        return self.subset(keep), self.subset(~keep)


def test_course_split_follows_the_manifest_split_column():
    table = pd.DataFrame({"case_id": list("abcde"), "split": ["train", "test", "train", "train", "test"]})
    train, test = teaching.course_split(_Cohort(table))
    assert train.table["case_id"].tolist() == ["a", "c", "d"]
    assert test.table["case_id"].tolist() == ["b", "e"]


def test_course_split_falls_back_to_a_split_without_the_column():
    train, test = teaching.course_split(_Cohort(pd.DataFrame({"case_id": list("abcdefghij")})))
    assert len(test.table) == 2 and len(train.table) == 8


def test_course_checkpoint_lives_in_the_temp_folder():
    import tempfile
    from pathlib import Path

    path = teaching.course_checkpoint_path()
    assert path.suffix == ".pt" and Path(tempfile.gettempdir()) in path.parents


def test_course_model_reuses_a_matching_checkpoint_and_retrains_on_other_data(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from medwb.models import TeachingNet3D, cohort_fingerprint, save_checkpoint

    table = pd.DataFrame({"case_id": [f"c{i}" for i in range(6)], "image": [f"i{i}" for i in range(6)],
                          "label": [0, 1] * 3, "split": ["train"] * 4 + ["test"] * 2})
    cohort = _Cohort(table)
    train_cases, _ = teaching.course_split(cohort)
    torch.manual_seed(1)
    net = TeachingNet3D(width=4)
    path = save_checkpoint(tmp_path / "net.pt", net, preprocess=teaching.course_preprocess(), seed=0,
                           data_hash=cohort_fingerprint(train_cases))

    trained: list[object] = []

    def fake_train(model, data, **kw):  # records the call instead of training
        trained.append(data)
        return pd.DataFrame({"epoch": [1], "train_loss": [0.5]})

    monkeypatch.setattr("medwb.models.recipe.train", fake_train)  # the course recipe's train call
    reused, pp, info = teaching.course_model(cohort, path=path)
    assert info["reused"] and not trained and pp == teaching.course_preprocess()
    assert all(torch.equal(a, b) for a, b in zip(reused.state_dict().values(), net.state_dict().values()))

    other = _Cohort(table.assign(label=[1, 0] * 3))   # same cases, other labels: another fingerprint
    _, _, info = teaching.course_model(other, path=path)
    assert not info["reused"] and len(trained) == 1
