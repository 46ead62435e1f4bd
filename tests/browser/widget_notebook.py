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

CELLS = [SETUP, CASE_VIEWER, VIEWER_3D]


def write_widget_notebook(folder: str | Path, name: str = "widgets.ipynb") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path
