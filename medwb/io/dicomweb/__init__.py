"""Cohorts from a PACS over DICOMweb: search (QIDO-RS), retrieve (WADO-RS), store (STOW-RS).

The parts, lowest first: deadline (a wall-clock limit per request), cache (the on-disk series cache,
check_uid), config (settings, credentials, redaction, errors, retries), query (search results as
tables), wado (multipart responses), stow (storing), client (DicomWebSource), cohort
(cohort_from_dicomweb: a medwb.Cohort from a search joined with a clinical table), orthanc (a local
Orthanc server for tests and demos). This module is the one to import.

Example:
    >>> from medwb.io.dicomweb import DicomWebSource
    >>> source = DicomWebSource("http://user:secret@127.0.0.1:8042/dicom-web", cache="/tmp/medwb-cache")
    >>> "secret" in repr(source)
    False
"""

from __future__ import annotations

from medwb.io.dicomweb.client import DicomWebSource, RetrievedSeries
from medwb.io.dicomweb.cohort import NON_IMAGE_MODALITIES, cohort_from_dicomweb
from medwb.io.dicomweb.config import (
    DicomWebConnectionError,
    DicomWebError,
    DicomWebMalformedError,
    DicomWebNotFoundError,
    DicomWebStoreError,
    DicomWebTimeoutError,
    DicomWebWarning,
    redact,
)

__all__ = [
    "DicomWebSource", "RetrievedSeries", "cohort_from_dicomweb", "DicomWebError", "DicomWebConnectionError",
    "DicomWebTimeoutError", "DicomWebMalformedError", "DicomWebWarning", "DicomWebNotFoundError",
    "DicomWebStoreError", "NON_IMAGE_MODALITIES", "redact",
]
