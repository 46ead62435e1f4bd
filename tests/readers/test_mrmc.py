"""medwb.readers.mrmc against the published Van Dyke analysis (RJafroc / MRMCaov documentation) and
against a plain brute-force computation on simulated studies."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medwb.readers import RatingsError, StudyDesign, empirical_auc, jackknife_auc, mrmc, simulate_study

# Published figures for the Van Dyke data (modality "0" = spin-echo MRI, "1" = cine MRI), as printed by
# MRMCaov's summary(mrmc(empirical_auc(truth, rating), treatment, reader, case, data = VanDyke)) and by
# RJafroc's StSignificanceTesting(dataset02, FOM = "Wilcoxon", method = "OR") in the RJafroc book.
# They report "0 - 1"; medwb reports "1 - 0" (later arm minus earlier), hence the sign flips.
VD_AUC = {"0": [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
          "1": [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169]}
VD_COMPONENTS = {"reader": 0.0015349993, "modality:reader": 0.0002004025, "error": 0.0008022883,
                 "cov1": 0.0003466137, "cov2": 0.0003440748, "cov3": 0.0002390284}


def test_vandyke_auc_per_reader_matches_published(vandyke):
    res = mrmc(vandyke)
    assert res.auc.shape == (5, 2)
    for m, values in VD_AUC.items():
        np.testing.assert_allclose(res.auc[m].to_numpy(), values, atol=5e-9)
    np.testing.assert_allclose(res.modality_auc.to_numpy(), [0.8970370, 0.9408374], atol=5e-8)


def test_vandyke_variance_components_match_published(vandyke):
    vc = mrmc(vandyke).variance_components["estimate"]
    for name, value in VD_COMPONENTS.items():
        assert vc[name] == pytest.approx(value, abs=5e-11), name
    np.testing.assert_allclose(mrmc(vandyke).variance_components["correlation"].iloc[3:].to_numpy(),
                               [0.4320314, 0.4288668, 0.2979333], atol=5e-8)


def test_vandyke_rrrc_matches_published(vandyke):
    res = mrmc(vandyke, analysis="RRRC")
    assert res.test["statistic"] == pytest.approx(4.456319, abs=5e-7)
    assert res.test["df2"] == pytest.approx(15.25967, abs=5e-6)
    assert res.test["p_value"] == pytest.approx(0.05166569, abs=5e-9)
    c = res.contrasts.loc["1 - 0"]
    assert c.estimate == pytest.approx(0.04380032, abs=5e-9)
    assert c.se == pytest.approx(0.02074862, abs=5e-9)
    assert c.df == pytest.approx(15.25967, abs=5e-6)
    assert (c.ci_low, c.ci_high) == pytest.approx((-0.0003588544, 0.0879594986), abs=5e-11)
    assert c.p_value == pytest.approx(0.05166569, abs=5e-9)
    m = res.modality_ci
    np.testing.assert_allclose(m.se, [0.03317360, 0.02156637], atol=5e-9)
    np.testing.assert_allclose(m.df, [12.74465, 12.71019], atol=5e-6)
    np.testing.assert_allclose(m.ci_low, [0.8252236, 0.8941378], atol=5e-8)
    np.testing.assert_allclose(m.ci_high, [0.9688505, 0.9875369], atol=5e-8)


def test_vandyke_frrc_matches_published(vandyke):
    res = mrmc(vandyke, analysis="FRRC")
    assert res.test["kind"] == "chi2"
    assert res.test["statistic"] == pytest.approx(5.47595324, abs=5e-9)
    assert res.test["p_value"] == pytest.approx(0.01928, abs=5e-6)
    c = res.contrasts.loc["1 - 0"]
    assert c.se == pytest.approx(0.018717483, abs=5e-10)
    assert (c.ci_low, c.ci_high) == pytest.approx((0.007115, 0.08049), abs=5e-6)
    np.testing.assert_allclose(res.modality_ci.se, [0.02429, 0.01678], atol=5e-6)
    np.testing.assert_allclose(res.modality_ci.ci_low, [0.8494, 0.9080], atol=5e-5)


def test_vandyke_rrfc_matches_published(vandyke):
    res = mrmc(vandyke, analysis="RRFC")
    assert (res.test["statistic"], res.test["df2"]) == pytest.approx((8.704, 4.0), abs=5e-4)
    assert res.test["p_value"] == pytest.approx(0.04196, abs=5e-6)
    c = res.contrasts.loc["1 - 0"]
    assert (c.se, c.ci_low, c.ci_high) == pytest.approx((0.01485, 0.00258, 0.08502), abs=5e-6)
    np.testing.assert_allclose(res.modality_ci.se, [0.02483, 0.01615], atol=5e-6)
    np.testing.assert_allclose(res.mean_squares["TR"], 0.00055103062, atol=5e-12)


# -- an independent brute-force computation -------------------------------------------------------

def brute_force(df: pd.DataFrame, analysis: str) -> dict:
    """Every AUC and every leave-one-case-out AUC recomputed by a plain pairwise loop; OR formulas
    written out term by term."""
    mods = list(dict.fromkeys(df.modality))
    rdrs = list(dict.fromkeys(df.reader))
    cases = list(dict.fromkeys(df.case))
    truth = df.groupby("case").truth.first()
    score = {(r.modality, r.reader, r.case): r.rating for r in df.itertuples()}

    def auc(i, j, keep):
        pos = [score[(i, j, c)] for c in keep if truth[c] == 1]
        neg = [score[(i, j, c)] for c in keep if truth[c] == 0]
        total = 0.0
        for x in pos:
            for y in neg:
                total += 1.0 if x > y else 0.5 if x == y else 0.0
        return total / (len(pos) * len(neg))

    I, J, K = len(mods), len(rdrs), len(cases)  # noqa: E741 - the OR notation
    theta = np.array([[auc(i, j, cases) for j in rdrs] for i in mods])
    loo = np.zeros((I, J, K))
    for a, i in enumerate(mods):
        for b, j in enumerate(rdrs):
            for k in range(K):
                loo[a, b, k] = auc(i, j, cases[:k] + cases[k + 1:])
    cov = {}
    for a1 in range(I):
        for b1 in range(J):
            for a2 in range(I):
                for b2 in range(J):
                    m1, m2 = loo[a1, b1].mean(), loo[a2, b2].mean()
                    cov[a1, b1, a2, b2] = (K - 1) / K * sum((loo[a1, b1, k] - m1) * (loo[a2, b2, k] - m2)
                                                            for k in range(K))

    def mean_of(pred):
        vals = [v for (a1, b1, a2, b2), v in cov.items() if pred(a1, b1, a2, b2)]
        return sum(vals) / len(vals)

    var = mean_of(lambda a1, b1, a2, b2: a1 == a2 and b1 == b2)
    cov1 = mean_of(lambda a1, b1, a2, b2: a1 != a2 and b1 == b2)
    cov2 = mean_of(lambda a1, b1, a2, b2: a1 == a2 and b1 != b2)
    cov3 = mean_of(lambda a1, b1, a2, b2: a1 != a2 and b1 != b2)
    grand = theta.mean()
    ti = theta.mean(axis=1)
    rj = theta.mean(axis=0)
    ms_t = J * sum((ti[a] - grand) ** 2 for a in range(I)) / (I - 1)
    ms_tr = sum((theta[a, b] - ti[a] - rj[b] + grand) ** 2 for a in range(I) for b in range(J)) / ((I - 1) * (J - 1))
    if analysis == "RRRC":
        den = ms_tr + J * max(cov2 - cov3, 0)
        stat, df2 = ms_t / den, den ** 2 / (ms_tr ** 2 / ((I - 1) * (J - 1)))
        p = stats.f.sf(stat, I - 1, df2)
        se = np.sqrt(2 * den / J)
    elif analysis == "FRRC":
        den = var - cov1 + (J - 1) * (cov2 - cov3)
        stat, df2 = (I - 1) * ms_t / den, np.inf
        p = stats.chi2.sf(stat, I - 1)
        se = np.sqrt(2 * den / J)
    else:
        stat, df2 = ms_t / ms_tr, (I - 1) * (J - 1)
        p = stats.f.sf(stat, I - 1, df2)
        se = np.sqrt(2 * ms_tr / J)
    diffs = [ti[b] - ti[a] for a, b in combinations(range(I), 2)]
    return {"theta": theta, "var": var, "cov1": cov1, "cov2": cov2, "cov3": cov3, "stat": stat, "df2": df2,
            "p": p, "se": se, "diffs": diffs}


@pytest.mark.parametrize("analysis", ["RRRC", "FRRC", "RRFC"])
@pytest.mark.parametrize("arms,scale,seed", [(("image", "image+AI"), "continuous", 0),
                                             (("image", "image+AI"), "1-5", 1),
                                             (("a", "b", "c"), "0-100", 2)])
def test_closed_form_equals_brute_force_on_simulated_studies(analysis, arms, scale, seed):
    auc = np.linspace(0.75, 0.85, len(arms))
    df = simulate_study(n_readers=4, n_cases=24, arms=arms, auc=auc, scale=scale, seed=seed)
    assert df.rating.duplicated().any() or scale == "continuous"  # ties are exercised on the discrete scales
    res = mrmc(df, analysis=analysis)
    bf = brute_force(df, analysis)
    np.testing.assert_allclose(res.auc.T.to_numpy(), bf["theta"], rtol=0, atol=1e-12)
    vc = res.variance_components["estimate"]
    for k in ("cov1", "cov2", "cov3"):
        assert vc[k] == pytest.approx(bf[k], abs=1e-12)
    assert vc["error"] == pytest.approx(bf["var"], abs=1e-12)
    assert res.test["statistic"] == pytest.approx(bf["stat"], rel=1e-10)
    assert res.test["df2"] == pytest.approx(bf["df2"], rel=1e-10)
    assert res.test["p_value"] == pytest.approx(bf["p"], abs=1e-10)
    np.testing.assert_allclose(res.contrasts.estimate, bf["diffs"], atol=1e-12)
    np.testing.assert_allclose(res.contrasts.se, bf["se"], rtol=1e-10)


def test_auc_per_reader_and_modality_equals_sklearn():
    from sklearn.metrics import roc_auc_score

    df = simulate_study(n_readers=3, n_cases=50, scale="1-5", seed=3)
    res = mrmc(df)
    for (r, m), part in df.groupby(["reader", "modality"]):
        assert res.auc.loc[r, m] == pytest.approx(roc_auc_score(part.truth, part.rating), abs=1e-14)


def test_jackknife_closed_form_equals_recomputing_each_auc():
    rng = np.random.default_rng(5)
    truth = rng.random(40) < 0.4
    scores = np.round(rng.normal(truth * 1.0, 1.0, (3, 40)), 1)  # rounded: ties
    auc, loo = jackknife_auc(scores, truth)
    for k in range(40):
        keep = np.arange(40) != k
        np.testing.assert_allclose(loo[:, k], empirical_auc(scores[:, keep], truth[keep]), atol=1e-14)
    np.testing.assert_allclose(auc, empirical_auc(scores, truth))


def test_simulated_results_say_so():
    res = mrmc(simulate_study(n_readers=3, n_cases=30))
    assert res.meta["simulated"] and "simulated" in res.summary()


# -- bad input names the rows ---------------------------------------------------------------------

@pytest.fixture()
def small():
    return simulate_study(n_readers=3, n_cases=12, scale="1-5", seed=0).drop(columns=["source"])


def test_case_read_by_only_some_readers_is_named(small):
    bad = small.drop(index=small.index[(small.case == "sim-case-004") & (small.reader == "sim-reader-02")])
    with pytest.raises(RatingsError, match=r"sim-case-004.*not read by every reader") as e:
        mrmc(bad)
    assert "sim-reader-02" in str(e.value) and "Fix:" in str(e.value)


def test_case_read_in_only_one_arm_is_named(small):
    bad = small.drop(index=small.index[(small.case == "sim-case-007") & (small.modality == "image+AI")])
    with pytest.raises(RatingsError, match=r"sim-case-007.*'image\+AI'"):
        mrmc(bad)


def test_missing_truth_names_the_rows(small):
    bad = small.copy()
    bad.loc[5, "truth"] = np.nan
    with pytest.raises(RatingsError, match=r"truth must be 0 or 1.*row 5\b"):
        mrmc(bad)


def test_non_binary_truth_names_the_rows(small):
    bad = small.copy()
    bad.loc[[3, 9], "truth"] = 2
    with pytest.raises(RatingsError, match=r"rows 3, 9"):
        mrmc(bad)


def test_single_truth_class_is_refused(small):
    with pytest.raises(RatingsError, match="both classes"):
        mrmc(small.assign(truth=1))


def test_non_numeric_scores_name_the_rows(small):
    bad = small.astype({"rating": object})
    bad.loc[11, "rating"] = "probably"
    with pytest.raises(RatingsError, match=r"not a finite number in row 11 \(e\.g\. 'probably'\)"):
        mrmc(bad)


def test_duplicate_rows_are_named(small):
    bad = pd.concat([small, small.iloc[[4]]], ignore_index=True)
    with pytest.raises(RatingsError, match=rf"repeats in rows 4, {len(small)}"):
        mrmc(bad)


def test_reader_not_in_the_design_is_named(small):
    cases = small.case.unique().tolist()
    design = StudyDesign("s", cases=cases, truth=small.groupby("case").truth.first().to_dict(),
                         readers=["sim-reader-01", "sim-reader-02"])
    with pytest.raises(RatingsError, match=r"reader ids \['sim-reader-03'\] are not in the design"):
        mrmc(small, design=design)


def test_truth_that_differs_within_a_case_is_named(small):
    bad = small.copy()
    row = bad.index[bad.case == "sim-case-002"][0]
    bad.loc[row, "truth"] = 1 - bad.loc[row, "truth"]
    with pytest.raises(RatingsError, match=r"sim-case-002.*different truth"):
        mrmc(bad)


def test_unknown_analysis_is_refused(small):
    with pytest.raises(RatingsError, match="RRRC"):
        mrmc(small, analysis="mixed")
