"""STOW-RS: send DICOM objects to a server through dicomweb-client, in batches, with a table of results.

The batches go through the caller's request runner (retries, the wall-clock deadline: see
medwb.io.dicomweb.config.with_retries); refused instances are named in a DicomWebStoreError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from medwb.io.dicomweb.config import DicomWebStoreError

__all__ = ["store_objects"]


def store_objects(call: Callable[[str, Callable[[], Any]], Any], client: Any, objects: Iterable[Any], *,
                  batch: int = 16, progress: bool = True, raise_on_failure: bool = True,
                  deidentify: Any = None) -> Any:
    """Store ``objects`` (datasets or files) with ``client.store_instances``, each batch run by
    ``call(what, fn)``; see DicomWebSource.store."""
    import pandas as pd
    import pydicom
    from tqdm.auto import tqdm

    items = [o if isinstance(o, pydicom.Dataset) else pydicom.dcmread(o) for o in objects]
    if deidentify is not None:
        items = [deidentify.dataset(d) for d in items]
    rows: list[dict[str, Any]] = []
    for start in tqdm(range(0, len(items), batch), desc="store", disable=not progress, leave=False):
        chunk = items[start:start + batch]
        result = call(f"store {len(chunk)} instance(s)", lambda c=chunk: client.store_instances(c))
        failed = {str(i.ReferencedSOPInstanceUID): int(getattr(i, "FailureReason", 0))
                  for i in (getattr(result, "FailedSOPSequence", None) or [])}
        for ds in chunk:
            sop = str(ds.SOPInstanceUID)
            rows.append({"sop_uid": sop, "series_uid": str(ds.SeriesInstanceUID),
                         "stored": sop not in failed,
                         "reason": f"0x{failed[sop]:04X}" if sop in failed else ""})
    table = pd.DataFrame(rows, columns=["sop_uid", "series_uid", "stored", "reason"])
    bad = table[~table["stored"]]
    if raise_on_failure and len(bad):
        raise DicomWebStoreError(
            f"the server refused {len(bad)} of {len(table)} instance(s), e.g. {bad.iloc[0]['sop_uid']} "
            f"(failure reason {bad.iloc[0]['reason']}; 0xA7xx: out of resources, 0xA9xx: data set does "
            "not match SOP class, 0xC000: cannot understand).\nFix: validate the objects, or call "
            "store(..., raise_on_failure=False) to get the table.")
    return table
