"""Attribution maps (saliency, Grad-CAM, integrated gradients, occlusion...) as DICOM Parametric Maps.

write_parametric_map() stores a float map computed on an image series as a Parametric Map (32-bit
float pixels, an identity Real World Value Mapping) that references the series, with the attribution
method and its parameters recorded (ContentLabel, LUT label and explanation, DerivationDescription), so
that a viewer shows it as an overlay and a reader can tell how it was made. read_parametric_map() reads
it back with pydicom, frame by frame by position.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from medwb.export.derived import (
    SourceLike,
    check_grid,
    equipment,
    frames_to_volume,
    new_uid,
    source_datasets,
    to_hd_volume,
)
from medwb.volume import Volume

__all__ = ["write_parametric_map", "read_parametric_map"]


def _as_volume(values: Any, reference: Volume | None, sources: list[Any]) -> tuple[Volume, str | None, dict]:
    """(Volume, method, params) from a Volume, an Attribution-like object or an array."""
    method = getattr(values, "method", None)
    params = dict(getattr(values, "params", None) or {})
    if isinstance(values, Volume):
        return values, method, params
    if isinstance(getattr(values, "volume", None), Volume):  # an Attribution carries its grid
        return values.volume, method, params
    array = np.asarray(getattr(values, "array", values))
    if reference is None:
        raise ValueError("a bare array has no geometry.\nFix: pass reference=<the image Volume it was computed "
                         "on>, or a Volume made with image.with_array(array).")
    return reference.with_array(array), method, params


def write_parametric_map(
    values: Any,
    source: SourceLike,
    path: str | Path,
    *,
    method: str | None = None,
    params: dict[str, Any] | None = None,
    reference: Volume | None = None,
    unit: str = "1",
    series_description: str | None = None,
    series_number: int = 400,
    uid_seed: str | None = None,
) -> Path:
    """Write a float map on ``source``'s grid as a DICOM Parametric Map.

    Args:
        values: a Volume on the image grid, a medwb Attribution (its ``method`` and ``params`` are
            recorded), or an array with ``reference``.
        source: the image series the map was computed on (folder, files or Datasets).
        path: the file to write.
        method: attribution method name (overrides ``values.method``), e.g. "integrated_gradients".
        params: its parameters (target class, steps, baseline...), recorded as JSON.
        unit: UCUM unit of the values ("1": dimensionless).

    Example:
        >>> from medwb.export.series import write_series
        >>> hu = np.zeros((4, 8, 8), np.int16)
        >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct")                    # the image series the result is about
        >>> from medwb.attribution import Attribution
        >>> ig = np.linspace(-1, 1, 256, dtype=np.float32).reshape(ct.shape)
        >>> a = Attribution(ig, ct.affine, "integrated_gradients", 1, params={"n_steps": 32})
        >>> write_parametric_map(a, tmp_path / "ct", tmp_path / "ig.dcm").name
        'ig.dcm'
    """
    import highdicom as hd
    from pydicom.sr.coding import Code

    sources = source_datasets(source)
    volume, found_method, found_params = _as_volume(values, reference, sources)
    method = method or found_method
    if not method:
        raise ValueError("the attribution method is not known.\nFix: pass method='integrated_gradients' (or "
                         "whichever made the map); a map without its method cannot be interpreted later.")
    params = {**found_params, **(params or {})}
    volume = check_grid(volume, sources, "map")
    array = np.asarray(volume.array, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"the map has {int((~np.isfinite(array)).sum())} non-finite values.\n"
                         "Fix: replace them (numpy.nan_to_num) before export.")
    lo, hi = float(array.min()), float(array.max())
    if hi <= lo:
        hi = lo + 1.0
    params_json = json.dumps(params, sort_keys=True, default=str)
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=method[:16], lut_explanation=f"{method} attribution"[:64],
        unit=Code(unit, "UCUM", unit), value_range=(lo, hi), slope=1.0, intercept=0.0)
    eq = equipment()
    frame_uid = str(sources[0].FrameOfReferenceUID)
    pm = hd.pm.ParametricMap(
        source_images=sources, pixel_array=to_hd_volume(volume, frame_uid, array),
        series_instance_uid=new_uid(uid_seed, "pm-series"), series_number=int(series_number),
        sop_instance_uid=new_uid(uid_seed, "pm-sop"), instance_number=1,
        contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=(lo + hi) / 2.0, window_width=hi - lo,
                                                         window_explanation="full range")],
        content_label="ATTRIBUTION", content_description=f"{method} attribution map"[:64],
        series_description=(series_description or f"medwb {method}")[:64], **eq)
    pm.DerivationDescription = f"medwb attribution method={method}; params={params_json}"[:1024]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.save_as(path)
    return path


def read_parametric_map(path: str | Path, reference: Volume | None = None) -> Volume:
    """Read a Parametric Map into a float32 Volume (on ``reference``'s grid, or the map's own).

    Real World Value Mapping slope / intercept are applied. ``meta`` holds ``method`` and ``params``
    when medwb wrote the map.

    Example:
        >>> from medwb.export.series import write_series
        >>> hu = np.zeros((4, 8, 8), np.int16)
        >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct")                    # the image series the result is about
        >>> ig = ct.with_array(np.linspace(-1, 1, 256, dtype=np.float32).reshape(ct.shape))
        >>> path = write_parametric_map(ig, tmp_path / "ct", tmp_path / "ig.dcm", method="saliency")
        >>> m = read_parametric_map(path, reference=ct)
        >>> m.meta["method"], m.same_grid(ct), bool(np.allclose(m.array, ig.array))
        ('saliency', True, True)
    """
    import pydicom

    ds = pydicom.dcmread(path)
    frames = np.asarray(ds.pixel_array, dtype=np.float32).reshape((-1, int(ds.Rows), int(ds.Columns)))
    shared = ds.SharedFunctionalGroupsSequence[0]
    rwvm = shared.get("RealWorldValueMappingSequence")
    method = None
    if rwvm:
        m = rwvm[0]
        slope = float(getattr(m, "RealWorldValueSlope", 1.0))
        intercept = float(getattr(m, "RealWorldValueIntercept", 0.0))
        frames = frames * np.float32(slope) + np.float32(intercept)
        method = str(getattr(m, "LUTLabel", "")) or None
    volume = frames_to_volume(ds, frames, reference)
    params: dict[str, Any] = {}
    desc = str(ds.get("DerivationDescription", ""))
    if desc.startswith("medwb attribution method="):
        head, _, tail = desc.partition("; params=")
        method = head.split("=", 1)[1]
        try:
            params = json.loads(tail)
        except json.JSONDecodeError:
            params = {}
    volume.meta.update(method=method, params=params, content_label=str(ds.get("ContentLabel", "")))
    return volume
