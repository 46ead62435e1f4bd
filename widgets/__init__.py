"""medwb.widgets: the Jupyter layer of medwb, built only on medwb's public API.

CaseViewer (three linked planes, window/level, attribution overlay, contours, voxel readout),
Viewer3D (NiiVue multiplanar + 3D; itkwidgets on request), CohortBrowser (sortable, filterable case
table that opens cases), AttributionExplorer, SurvivalExplorer and TrainingMonitor. Front-end code is
inline anywidget ESM (no CDN, no build step); every widget leaves a static PNG for places with no
widget front end (nbconvert HTML, GitHub).

Example (in a notebook)::

    import medwb
    from medwb.widgets import CaseViewer
    cohort = medwb.demo.load_cohort()
    case = cohort.case_ids[0]
    CaseViewer(cohort.volume(case), mask=cohort.mask(case))

Teaching mode: ground truth (true lesion outlines and facts, the demo's label columns, true hazard
ratios) is hidden until the widget's "Show ground truth" button is pressed, or everywhere at once
with ``medwb.widgets.set_teaching(True)`` (see medwb.widgets.teaching).
"""

from __future__ import annotations

from medwb.widgets.attribution_explorer import AttributionExplorer
from medwb.widgets.case_viewer import CaseViewer
from medwb.widgets.cohort_browser import CohortBrowser
from medwb.widgets.reader_study import ReaderStudy, TeacherView
from medwb.widgets.slice_viewer import SliceViewer, render_png
from medwb.widgets.survival_explorer import SurvivalExplorer
from medwb.widgets.teaching import set_teaching, teaching_enabled
from medwb.widgets.training_monitor import TrainingMonitor
from medwb.widgets.viewer3d import Viewer3D

__all__ = ["AttributionExplorer", "CaseViewer", "CohortBrowser", "ReaderStudy", "SliceViewer", "SurvivalExplorer",
           "TeacherView", "TrainingMonitor", "Viewer3D", "render_png", "set_teaching", "teaching_enabled"]
