"""medwb.demo.truth is the one home of the demo's ground-truth coding; the generator, the built cohort,
the survival design and the widgets' teaching mode all speak it."""

from __future__ import annotations

import pandas as pd
import pytest

from medwb.demo import clinical, truth
from medwb.masks import lesions_from_mask
from medwb.survival import design_frame


def test_the_built_cohort_states_the_coding_of_medwb_demo_truth(demo_cohort):
    gt = demo_cohort.ground_truth
    assert gt["mask_labels"] == {str(k): v for k, v in truth.MASK_LABELS.items()}
    assert gt["label_definition"] == truth.LABEL_DEFINITION
    table = demo_cohort.table
    assert set(truth.TRUTH_COLUMNS) <= set(table.columns)
    expected = [truth.diagnosis(lab, n) for lab, n in zip(table["label"], table["n_lesions"], strict=True)]
    assert table["diagnosis"].tolist() == expected
    assert set(table["diagnosis"]) <= set(truth.DIAGNOSES.values())


def test_a_demo_mask_measured_with_the_label_coding_gives_the_table_lesion_volume(demo_cohort):
    table = demo_cohort.table.set_index("case_id")
    case = table.index[table["n_lesions"] > 0][0]
    lesions = lesions_from_mask(demo_cohort.mask(case))
    assert len(lesions) >= 1
    assert lesions["volume_ml"].sum() == pytest.approx(table.loc[case, "lesion_volume_ml"], abs=1e-3)
    assert (lesions["oedema_ml"] <= table.loc[case, "oedema_volume_ml"] + 1e-3).all()


def test_every_design_column_of_the_demo_table_maps_to_a_true_hazard_ratio():
    t = pd.DataFrame({"age": [60, 70, 55], "sex": ["M", "F", "F"], "ecog": [0, 1, 2], "label": [1, 0, 1],
                      "lesion_volume_ml": [5.0, 0.0, 12.0]})
    _, names = design_frame(t, ["age", "sex", "ecog", "label", "lesion_volume_ml"])
    assert {truth.TRUTH_NAMES[c] for c in names} == set(clinical.HAZARD_RATIOS)


def test_the_truth_units_are_the_scale_of_the_simulation_coding():
    base = pd.DataFrame({"age": [60.0], "sex": ["M"], "ecog": [1], "label": [1], "lesion_volume_ml": [4.0]})
    coded = clinical.design_matrix(base).iloc[0]
    for column, unit in truth.TRUTH_UNITS.items():
        moved = base.copy()
        moved[column] = moved[column] + unit  # one reported unit of the covariate...
        step = clinical.design_matrix(moved).iloc[0] - coded
        assert step[truth.TRUTH_NAMES[column]] == pytest.approx(1.0)  # ...is one unit of the coded truth


def test_hazard_truth_reads_a_demo_ground_truth_and_refuses_anything_else():
    hrs, names, units = truth.hazard_truth({"survival_model": clinical.SURVIVAL_MODEL})
    assert hrs == clinical.HAZARD_RATIOS and names["sex_M"] == "male" and units == truth.TRUTH_UNITS
    with pytest.raises(ValueError, match="Fix: pass cohort.ground_truth"):
        truth.hazard_truth({"cases": {}})


def test_the_widgets_and_the_generator_share_the_coding():
    from medwb.demo import lesions
    from medwb.widgets import cohort_browser, render, teaching

    assert teaching.TRUTH_COLUMNS is truth.TRUTH_COLUMNS and cohort_browser.TRUTH_COLUMNS is truth.TRUTH_COLUMNS
    assert teaching.demo_hazard_truth is truth.hazard_truth
    assert (lesions.LABEL_LESION, lesions.LABEL_OEDEMA) == (truth.LABEL_LESION, truth.LABEL_OEDEMA)
    assert render.LABEL_COLORS[truth.LABEL_LESION] == (255, 59, 48)  # lesion red, as the notebooks say
