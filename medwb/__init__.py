"""medwb: an explainable diagnostics workbench for medical imaging.

The few names a notebook needs, loaded on first use so that ``import medwb`` stays instant
(torch, captum, lifelines, pydicom and pandas load only when the part that needs them is used)::

    import medwb
    cohort = medwb.demo.build_cohort("data/demo")          # the embedded default cohort
    volume = cohort.volume(cohort.case_ids[0])             # a medwb.Volume (slice, row, column; LPS)
    index = medwb.scan_dicom("/path/to/dicom")             # studies, series and a problems table
    volume = medwb.load_volume("/path/to/series")          # DICOM folder, file list, multi-frame, NIfTI
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Volume",
    "Cohort",
    "load_volume",
    "scan_dicom",
    "save_nifti",
    "explain",
    "attribution",
    "demo",
    "transforms",
    "models",
    "features",
    "survival",
    "viz",
    "masks",
    "deid",
    "run_pipeline",
    "pipeline",
    "provenance",
    "readers",
    "__version__",
]

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Volume": ("medwb.volume", "Volume"),
    "Cohort": ("medwb.cohort", "Cohort"),
    "load_volume": ("medwb.io.load", "load_volume"),
    "scan_dicom": ("medwb.io.dicom", "scan"),
    "save_nifti": ("medwb.io.nifti", "save_nifti"),
    "explain": ("medwb.attribution", "explain"),
    "attribution": ("medwb.attribution", None),
    "demo": ("medwb.demo", None),
    "transforms": ("medwb.transforms", None),
    "models": ("medwb.models", None),
    "features": ("medwb.features", None),
    "survival": ("medwb.survival", None),
    "viz": ("medwb.viz", None),
    "masks": ("medwb.masks", None),
    "deid": ("medwb.deid", None),
    "run_pipeline": ("medwb.pipeline", "run_pipeline"),
    "pipeline": ("medwb.pipeline", None),
    "provenance": ("medwb.provenance", None),
    "readers": ("medwb.readers", None),
}

if TYPE_CHECKING:  # pragma: no cover
    from medwb.cohort import Cohort
    from medwb.volume import Volume


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'medwb' has no attribute {name!r}; public names: {', '.join(__all__)}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
