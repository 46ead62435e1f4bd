"""Findings as a DICOM Comprehensive 3D SR measurement report (TID 1500), through highdicom, and back.

write_sr() records, for one imaging study: the volume of each lesion (one measurement group per SEG
segment, referencing that segment), the model's prediction (probability of the positive class) and a
risk score (e.g. a Cox log partial hazard), each tagged with the model's identity (TID 4019 algorithm
name, version, parameters). The report references the source image series and the SEG as evidence.
read_sr() flattens any TID 1500 report into a table with pydicom alone.

Prediction and risk have no standard codes; they use the private coding scheme ``99MEDWB``
(PREDPROB, RISK), as PS3.16 allows for private concepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medwb.export.derived import SourceLike, equipment, new_uid, source_datasets

__all__ = ["write_sr", "read_sr", "PREDICTION", "RISK_SCORE"]


def _code(value: str, scheme: str, meaning: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value, scheme, meaning)


PREDICTION = ("PREDPROB", "99MEDWB", "Predicted probability")
RISK_SCORE = ("RISK", "99MEDWB", "Risk score")


def write_sr(
    source: SourceLike,
    path: str | Path,
    *,
    seg: str | Path | Any | None = None,
    lesion_volumes: Mapping[int, float] | None = None,
    prediction: float | None = None,
    prediction_of: str = "malignant-type lesion",
    risk_score: float | None = None,
    model: str = "medwb",
    model_version: str | None = None,
    model_parameters: Mapping[str, Any] | None = None,
    procedure: Any = None,
    series_number: int = 500,
    uid_seed: str | None = None,
) -> Path:
    """Write a TID 1500 measurement report for one series as a Comprehensive 3D SR file.

    Args:
        source: the image series (folder, files or Datasets) the findings are about.
        path: the file to write.
        seg: the DICOM SEG holding the lesions (path or Dataset); each of its segments gets a
            measurement group with its volume in mm³ (computed from the SEG unless given).
        lesion_volumes: {segment number: mm³} to record instead of computing from ``seg``.
        prediction: the model's probability for ``prediction_of`` (0..1).
        risk_score: a risk score (e.g. log partial hazard from a Cox model), dimensionless.
        model, model_version, model_parameters: the model's identity, recorded on every measurement.
        procedure: the procedure code reported (default LOINC "CT unspecified body region").

    Example:
        >>> from medwb.export.series import write_series
        >>> hu = np.zeros((4, 8, 8), np.int16)
        >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct")                    # the image series the result is about
        >>> from medwb.export.seg import write_seg
        >>> mask = np.zeros(ct.shape, np.uint8)
        >>> mask[1:3, 2:5, 2:5] = 1                                  # 18 voxels of 1.6 mm³
        >>> seg = write_seg({"lesion": ct.with_array(mask)}, tmp_path / "ct", tmp_path / "seg.dcm")
        >>> write_sr(tmp_path / "ct", tmp_path / "report.dcm", seg=seg, prediction=0.83, risk_score=1.2,
        ...          model="teachingnet", model_version="3").name
        'report.dcm'
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    sources = source_datasets(source)
    eq = equipment()
    params = [f"{k}={v}" for k, v in sorted((model_parameters or {}).items())] or None
    algo = hd.sr.AlgorithmIdentification(name=model, version=model_version or eq["software_versions"],
                                         parameters=params)
    unitless = _code("1", "UCUM", "no units")
    groups: list[Any] = []
    evidence = list(sources)

    seg_ds = None
    if seg is not None:
        seg_ds = seg if isinstance(seg, pydicom.Dataset) else pydicom.dcmread(seg)
        evidence.append(seg_ds)
        if lesion_volumes is None:
            from medwb.export.seg import read_seg

            lesion_volumes = {}
            for vol in read_seg(seg_ds).values():
                voxel = float(np.prod(vol.spacing))
                lesion_volumes[int(vol.meta["segment_number"])] = float(vol.array.astype(np.float64).sum() * voxel)
        labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg_ds.SegmentSequence}
        kinds = {int(s.SegmentNumber): hd.sr.CodedConcept.from_dataset(s.SegmentedPropertyTypeCodeSequence[0])
                 for s in seg_ds.SegmentSequence}
        for number, mm3 in sorted(lesion_volumes.items()):
            if number not in labels:
                raise KeyError(f"the SEG has no segment {number}; it has {sorted(labels)}")
            ref = hd.sr.ReferencedSegment(
                sop_class_uid=seg_ds.SOPClassUID, sop_instance_uid=seg_ds.SOPInstanceUID, segment_number=number,
                source_series=hd.sr.SourceSeriesForSegmentation(str(sources[0].SeriesInstanceUID)))
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(uid_seed, "lesion", str(number)),
                                                             identifier=labels[number][:64]),
                referenced_segment=ref, finding_type=kinds[number], algorithm_id=algo,
                measurements=[hd.sr.Measurement(name=codes.SCT.Volume, value=float(mm3),
                                                unit=codes.UCUM.CubicMillimeter, algorithm_id=algo)]))
    elif lesion_volumes:
        raise ValueError("lesion_volumes need the SEG they refer to.\nFix: pass seg='...seg.dcm'.")

    case_level = []
    if prediction is not None:
        if not 0.0 <= float(prediction) <= 1.0:
            raise ValueError(f"prediction must be a probability in [0, 1], got {prediction}")
        case_level.append(hd.sr.Measurement(name=_code(*PREDICTION), value=float(prediction), unit=unitless,
                                            algorithm_id=algo))
    if risk_score is not None:
        case_level.append(hd.sr.Measurement(name=_code(*RISK_SCORE), value=float(risk_score), unit=unitless,
                                            algorithm_id=algo))
    if case_level:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(uid_seed, "case"),
                                                         identifier=f"model output: {prediction_of}"[:64]),
            algorithm_id=algo, measurements=case_level,
            source_images=[hd.sr.SourceImageForMeasurementGroup(d.SOPClassUID, d.SOPInstanceUID)
                           for d in sources]))
    if not groups:
        raise ValueError("nothing to report.\nFix: pass seg=..., prediction=... and/or risk_score=....")

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=new_uid(uid_seed, "device", model), name=model[:64], manufacturer_name="medwb",
            model_name=model[:64]))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=procedure or codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report[0], series_instance_uid=new_uid(uid_seed, "sr-series"),
        series_number=int(series_number), sop_instance_uid=new_uid(uid_seed, "sr-sop"), instance_number=1,
        manufacturer="medwb", is_complete=True, series_description=f"medwb findings: {model}"[:64])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(path)
    return path


def _concept(item: Any) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence")
    if not seq:
        return "", ""
    return str(seq[0].CodeValue), str(seq[0].CodeMeaning)


def read_sr(path: str | Path) -> pd.DataFrame:
    """Every numeric measurement of a TID 1500 report, one row each.

    Columns: group (tracking identifier), finding, name, code, value, unit, algorithm, algorithm_version,
    algorithm_parameters, segment_number, seg_uid.

    Example:
        >>> from medwb.export.series import write_series
        >>> hu = np.zeros((4, 8, 8), np.int16)
        >>> ct = medwb.Volume.from_geometry(hu, spacing=(2.5, 0.8, 0.8), modality="CT")
        >>> _ = write_series(ct, tmp_path / "ct")                    # the image series the result is about
        >>> from medwb.export.seg import write_seg
        >>> mask = np.zeros(ct.shape, np.uint8)
        >>> mask[1:3, 2:5, 2:5] = 1                                  # 18 voxels of 1.6 mm³
        >>> seg = write_seg({"lesion": ct.with_array(mask)}, tmp_path / "ct", tmp_path / "seg.dcm")
        >>> report = write_sr(tmp_path / "ct", tmp_path / "sr.dcm", seg=seg, prediction=0.83, risk_score=1.2)
        >>> read_sr(report)[["name", "value", "unit"]].values.tolist()
        [['Volume', 28.8, 'mm3'], ['Predicted probability', 0.83, '1'], ['Risk score', 1.2, '1']]
    """
    import pydicom

    ds = pydicom.dcmread(path)
    rows: list[dict[str, Any]] = []

    def algorithm(item: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"algorithm": None, "algorithm_version": None, "algorithm_parameters": []}
        for child in item.get("ContentSequence", []):
            code, _ = _concept(child)
            if code == "111001":
                out["algorithm"] = str(child.TextValue)
            elif code == "111003":
                out["algorithm_version"] = str(child.TextValue)
            elif code == "111002":
                out["algorithm_parameters"].append(str(child.TextValue))
        return out

    def walk(items: Any, context: dict[str, Any]) -> None:
        for item in items:
            code, meaning = _concept(item)
            if item.ValueType == "CONTAINER" and code == "125007":  # Measurement Group
                ctx = dict(context, group=None, finding=None, segment_number=None, seg_uid=None)
                for child in item.get("ContentSequence", []):
                    c, _ = _concept(child)
                    if c == "112039":
                        ctx["group"] = str(child.TextValue)
                    elif c == "121071" and child.ValueType == "CODE":
                        ctx["finding"] = str(child.ConceptCodeSequence[0].CodeMeaning)
                    elif c == "121191":
                        ref = child.ReferencedSOPSequence[0]
                        ctx["segment_number"] = int(ref.ReferencedSegmentNumber)
                        ctx["seg_uid"] = str(ref.ReferencedSOPInstanceUID)
                walk(item.get("ContentSequence", []), ctx)
            elif item.ValueType == "NUM" and "group" in context:
                mv = item.MeasuredValueSequence[0]
                rows.append({**context, "name": meaning, "code": code, "value": float(mv.NumericValue),
                             "unit": str(mv.MeasurementUnitsCodeSequence[0].CodeValue), **algorithm(item)})
            elif "ContentSequence" in item:
                walk(item.ContentSequence, context)

    walk(ds.get("ContentSequence", []), {})
    cols = ["group", "finding", "name", "code", "value", "unit", "algorithm", "algorithm_version",
            "algorithm_parameters", "segment_number", "seg_uid"]
    table = pd.DataFrame(rows, columns=cols)
    table["segment_number"] = table["segment_number"].astype("Int64")
    return table
