"""The SurvivalExplorer's patient view: curve with band, risk map in the CaseViewer, bars, "what if" sliders."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def view(fusion, demo_cohort):
    from medwb.widgets import SurvivalExplorer

    table = demo_cohort.table.set_index("case_id")
    cid = next(c for c in demo_cohort.case_ids if table.loc[c, "label"] == 1 and table.loc[c, "ecog"] == 1)
    explorer = SurvivalExplorer(demo_cohort)
    v = explorer.show_patient(fusion, demo_cohort.volume(cid), table.loc[cid], mask=demo_cohort.mask(cid),
                              horizon=730)
    assert explorer.children[-1] is v
    return v


def test_patient_view_shows_curve_bars_and_the_risk_map(view, fusion):
    assert view.curve_image.value[:4] == b"\x89PNG" and view.bars_image.value[:4] == b"\x89PNG"
    assert view.viewer is not None and view.attribution.target.startswith("Risk(")
    assert list(view.sliders) == fusion.columns
    c = view.curve
    assert bool(((c["lower"] <= c["survival"] + 1e-9) & (c["survival"] <= c["upper"] + 1e-9)).all())


def test_what_if_slider_redraws_the_curve_at_once(view, fusion):
    before = view.curve["survival"].to_numpy().copy()
    png = view.curve_image.value
    view.sliders["ecog"].value = view.sliders["ecog"].value + 1
    after = view.curve["survival"].to_numpy()
    hr = float(np.exp(fusion.net.clinical.weight.detach().numpy()[0][fusion.columns.index("ecog")]
                      / fusion.sd[fusion.columns.index("ecog")]))
    assert hr > 1 and bool(np.all(after <= before + 1e-12)) and after[-1] < before[-1]
    # proportional hazards: one ECOG point multiplies the cumulative hazard by the network's HR
    inner = (before > 1e-6) & (before < 1 - 1e-6)
    np.testing.assert_allclose(np.log(after[inner]) / np.log(before[inner]), hr, rtol=1e-5)
    assert view.curve_image.value != png
    view._reset()
    np.testing.assert_allclose(view.curve["survival"], before)
