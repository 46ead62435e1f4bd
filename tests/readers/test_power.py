"""Power and sample size (Hillis & Berbaum) against RJafroc's published figures for the Van Dyke pilot
(RJafroc tests/testthat SsPower tests: SsPowerGivenJK / SsSampleSizeKGivenJ, method = "ORH")."""

from __future__ import annotations

import pytest

from medwb.readers import PilotComponents, mrmc, power, power_table, sample_size

EFFECT = -0.043800322  # the Van Dyke pilot's observed difference, as RJafroc passes it


@pytest.fixture(scope="module")
def pilot(vandyke):
    return mrmc(vandyke)


@pytest.mark.parametrize("analysis,readers,cases,expected", [
    ("RRRC", 10, 165, 0.80541995), ("FRRC", 10, 131, 0.80091813), ("RRFC", 10, 53, 0.80496663)])
def test_power_matches_rjafroc_for_the_vandyke_pilot(pilot, analysis, readers, cases, expected):
    assert power(EFFECT, readers, cases, pilot, analysis=analysis) == pytest.approx(expected, abs=1e-8)


def test_observed_effect_is_the_default_and_matches_rjafroc(pilot):
    assert power(None, 6, 111, pilot) == pytest.approx(0.5526116, abs=5e-8)


def test_sample_size_matches_rjafroc(pilot):
    # SsSampleSizeKGivenJ(dataset02, J = 6, FOM = "Wilcoxon", method = "ORH")$KRRRC == 251, power 0.801
    assert sample_size(None, 6, pilot) == 251
    assert power(None, 6, 251, pilot) == pytest.approx(0.801, abs=5e-4)
    assert power(None, 6, 250, pilot) < 0.8


def test_power_grows_with_readers_and_cases_and_table_reaches_target(pilot):
    p = PilotComponents.from_result(pilot)
    assert power(0.05, 4, 100, p) < power(0.05, 8, 100, p) < power(0.05, 8, 200, p)
    table = power_table(p, 0.05, readers=[3, 6, 8, 10])
    assert table.cases.isna().tolist() == [True, False, False, False]  # 3 readers never reach 80 %
    assert (table.power.iloc[1:] >= 0.8).all() and table.cases.iloc[1:].is_monotonic_decreasing


def test_too_few_readers_for_any_case_count_gives_none():
    p = PilotComponents(var_tr=0.01, var=8e-4, cov1=3.5e-4, cov2=3.4e-4, cov3=2.4e-4, n_cases=100)
    assert sample_size(0.02, 2, p, max_cases=5000) is None
