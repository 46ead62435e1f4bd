"""The notebook the browser tests open: each widget once, on data made here (no demo build needed)."""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["write_widget_notebook", "CELLS"]

SETUP = '''\
import numpy as np
import medwb
from medwb.widgets import CaseViewer

z, y, x = np.mgrid[:48, :96, :96].astype(np.float32)
r = np.sqrt((z - 24) ** 2 * 4 + (y - 48) ** 2 + (x - 48) ** 2)
hu = np.where(r < 40, 40 + 10 * np.sin(x / 4) + z, -1000).astype(np.int16)
hu[r < 8] = 120
volume = medwb.Volume.from_geometry(hu, spacing=(2.0, 1.0, 1.0), modality="CT")
mask = volume.with_array((r < 8).astype(np.uint8))
attribution = (np.exp(-((r - 6) ** 2) / 20) - 0.5 * np.exp(-((x - 20) ** 2 + (y - 30) ** 2) / 30)).astype(np.float32)
'''

CASE_VIEWER = '''\
case_viewer = CaseViewer(volume, attribution, mask=mask, title="synthetic case")
case_viewer
'''

VIEWER_3D = '''\
from medwb.widgets import Viewer3D
viewer_3d = Viewer3D(volume, attribution, mask=mask, height=360)
viewer_3d
'''

COHORT = '''\
import pandas as pd
from pathlib import Path
from medwb.widgets import CohortBrowser

rows = []
for i in range(6):
    arr = np.where(r < 30 + 2 * i, 30 + 5 * i, -1000).astype(np.int16)
    case_mask = (np.sqrt((z - 24) ** 2 * 4 + (y - 30 - 5 * i) ** 2 + (x - 48) ** 2) < 6).astype(np.uint8)
    medwb.save_nifti(volume.with_array(arr), f"case-{i}.nii.gz")
    medwb.save_nifti(volume.with_array(case_mask), f"case-{i}-mask.nii.gz")
    rows.append({"case_id": f"case-{i}", "patient_name": f"DOE^JANE{i}", "image": f"case-{i}.nii.gz",
                 "mask": f"case-{i}-mask.nii.gz", "age": 40 + 5 * i, "label": i % 2})
pd.DataFrame(rows).to_csv("manifest.csv", index=False)
cohort = medwb.Cohort.from_manifest("manifest.csv")
browser = CohortBrowser(cohort, predictions=np.linspace(0.1, 0.9, 6), risk=np.linspace(2, -1, 6))
browser
'''

EXPLORERS = '''\
import torch
from torch import nn
from medwb.widgets import AttributionExplorer, SurvivalExplorer, TrainingMonitor

rng = np.random.default_rng(0)
n = 80
lesion_size = rng.normal(size=n)
t = rng.exponential(300 / np.exp(lesion_size)); c = rng.exponential(600, n)
table = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "age": rng.normal(65, 8, n),
                      "sex": rng.choice(["M", "F"], n), "time": np.minimum(t, c), "event": (t <= c).astype(int)})
survival_explorer = SurvivalExplorer(table, features=pd.DataFrame({"case_id": table.case_id, "lesion_size": lesion_size}))

monitor = TrainingMonitor(epochs=4)
history = []
for epoch in range(1, 4):
    history.append({"epoch": epoch, "train_loss": 1 / epoch, "val_loss": 1.2 / epoch, "val_auc": 0.5 + 0.1 * epoch, "best": True})
    monitor(history[-1], pd.DataFrame(history))

torch.manual_seed(0)
net = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
small = medwb.Volume.from_geometry((hu[::2, ::2, ::2] / 100).astype(np.float32), spacing=(4.0, 2.0, 2.0))
attribution_explorer = AttributionExplorer(net, small, mask=mask.array[::2, ::2, ::2], methods=("saliency", "gradcam"), target=1)
attribution_explorer.run(wait=True)
w_box = __import__("ipywidgets").VBox([survival_explorer, monitor, attribution_explorer])
w_box
'''

CELLS = [SETUP, CASE_VIEWER, VIEWER_3D, COHORT, EXPLORERS]


def write_widget_notebook(folder: str | Path, name: str = "widgets.ipynb", cells: list[str] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (CELLS if cells is None else cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path
