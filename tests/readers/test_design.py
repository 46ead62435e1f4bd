"""Study designs: balanced, seeded, crossover reading orders; blinding-relevant facts; errors."""

from __future__ import annotations

from collections import Counter

import pytest

from medwb.readers import DesignError, StudyDesign


def make(n=20, readers=("r1", "r2", "r3"), **kw):
    cases = [f"c{i:02d}" for i in range(n)]
    return StudyDesign("study", cases=cases, truth={c: i % 2 for i, c in enumerate(cases)}, readers=readers, **kw)


@pytest.mark.parametrize("crossover", [True, False])
def test_every_reader_reads_every_case_once_in_every_arm(crossover):
    d = make(crossover=crossover, arms=("image", "image+AI", "image+AI+text"))
    for r in d.readers:
        tasks = d.all_tasks(r)
        assert len(tasks) == d.n_readings == 60
        assert Counter((t.case, t.arm) for t in tasks) == Counter({(c, a): 1 for c in d.cases for a in d.arms})
        for s in (1, 2, 3):  # one reading per case per session
            assert sorted(t.case for t in d.worklist(r, s)) == sorted(d.cases)


def test_crossover_swaps_the_arms_and_reshuffles_the_order_in_session_two():
    d = make()
    s1, s2 = d.worklist("r1", 1), d.worklist("r1", 2)
    arm1 = {t.case: t.arm for t in s1}
    assert all(arm1[t.case] != t.arm for t in s2)
    assert [t.case for t in s1] != [t.case for t in s2]
    assert [t.position for t in s1] == list(range(1, 21)) and {t.total for t in s1} == {20}


def test_each_session_is_balanced_between_arms_and_truth():
    d = make(n=24)
    for r in d.readers:
        for s in (1, 2):
            count = Counter((t.arm, d.truth[t.case]) for t in d.worklist(r, s))
            assert set(count.values()) == {6}, count


def test_orders_are_seeded_and_differ_between_readers_and_seeds():
    a, b = make(seed=3), make(seed=3)
    assert a.worklist("r2", 1) == b.worklist("r2", 1)
    assert [t.case for t in a.worklist("r1", 1)] != [t.case for t in a.worklist("r2", 1)]
    assert [t.case for t in a.worklist("r1", 1)] != [t.case for t in make(seed=4).worklist("r1", 1)]


def test_adding_readers_keeps_everyones_reading_order():
    d = make(readers=("r1", "r2"))
    bigger = d.with_readers(["r3", "r4"])
    for r in ("r1", "r2"):
        assert bigger.all_tasks(r) == d.all_tasks(r)


def test_design_round_trips_through_json():
    d = make(scale="0-100", crossover=False, seed=9)
    assert StudyDesign.from_json(d.to_json()) == d


def test_from_cohort_uses_the_cohort_truth_and_draws_a_stratified_subset(demo_cohort):
    d = StudyDesign.from_cohort(demo_cohort, "demo-study", ["r1"], n_cases=20, seed=1)
    table = demo_cohort.table.set_index("case_id")
    assert len(d.cases) == 20 and all(d.truth[c] == int(table.loc[c, "label"]) for c in d.cases)
    assert 0 < sum(d.truth.values()) < 20


@pytest.mark.parametrize("kwargs,match", [
    ({"arms": ("image",)}, "two or more arms"),
    ({"readers": ()}, "readers is empty"),
    ({"scale": "1-10"}, "scale is '1-10'"),
    ({"readers": ("a", "a")}, r"readers repeat: \['a'\]"),
])
def test_bad_designs_are_refused_with_a_fix(kwargs, match):
    with pytest.raises(DesignError, match=match):
        make(**kwargs)


def test_truth_must_be_binary_and_both_classes_present():
    with pytest.raises(DesignError, match="truth must be 0 or 1"):
        StudyDesign("s", cases=["a", "b"], truth={"a": 0, "b": 2}, readers=["r"])
    with pytest.raises(DesignError, match="both|diseased and non-diseased"):
        StudyDesign("s", cases=["a", "b"], truth={"a": 1, "b": 1}, readers=["r"])


def test_unknown_reader_is_refused_with_the_fix():
    with pytest.raises(DesignError, match=r"reader 'zed' is not in study 'study'.*Fix"):
        make().worklist("zed", 1)
