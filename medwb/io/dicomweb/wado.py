"""WADO-RS retrieval as raw bytes: multipart/related responses split into DICOM Part 10 files.

The cache stores every instance byte for byte as the server sent it (no decoding and re-encoding
through pydicom), parts are handed over as soon as they are complete, and a response that ends before
its closing boundary counts as a broken stream (ChunkedEncodingError), never as a short series.
A part that is not a DICOM object (an HTML error page, a JSON message) is a DicomWebMalformedError of
sop_uid_of(), never an AttributeError from deep inside pydicom.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

from medwb.io.dicomweb.cache import check_uid
from medwb.io.dicomweb.config import DicomWebMalformedError, redact

__all__ = ["iter_parts", "sop_uid_of", "ACCEPT_DICOM"]

#: Any transfer syntax the server holds: instances come back as stored (compressed stays compressed).
ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _boundary(content_type: str) -> bytes | None:
    for item in content_type.split(";")[1:]:
        key, _, value = item.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"').encode()
    return None


def _arriving(response: Any, chunk_size: int) -> Iterator[bytes]:
    """The body as it arrives: each read returns what the socket has (up to ``chunk_size``) instead of
    waiting for a whole chunk, so a part is handed over once complete even when the server slows down.
    urllib3's errors become requests' own, as in Response.iter_content."""
    raw = getattr(response, "raw", None)
    if raw is None or not hasattr(raw, "read1"):
        yield from response.iter_content(chunk_size)
        return
    import requests
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

    while True:
        try:
            data = raw.read1(chunk_size)
        except ProtocolError as e:
            raise requests.exceptions.ChunkedEncodingError(e) from e
        except DecodeError as e:
            raise requests.exceptions.ContentDecodingError(e) from e
        except ReadTimeoutError as e:
            raise requests.exceptions.ConnectionError(e) from e
        except SSLError as e:
            raise requests.exceptions.SSLError(e) from e
        if not data:
            return
        yield data


def iter_parts(session: Any, url: str, *, timeout: Any, accept: str = ACCEPT_DICOM,
               chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """GET ``url`` and yield the body of each part of its multipart/related answer, as it arrives."""
    import requests

    response = session.get(url, headers={"Accept": accept}, stream=True, timeout=timeout)
    with response:
        response.raise_for_status()
        content_type = response.headers.get("Content-Type", "")
        boundary = _boundary(content_type) if content_type.lower().startswith("multipart/") else None
        if boundary is None:  # a single non-encapsulated object (tolerated, as dicomweb-client does)
            yield response.content
            return
        delimiter = b"\r\n--" + boundary
        buffer = bytearray(b"\r\n")  # so that the first delimiter looks like every other one
        start: int | None = None  # where the current part's headers begin
        search = 0
        closed = False
        for chunk in _arriving(response, chunk_size):
            buffer += chunk
            while True:
                at = buffer.find(delimiter, search)
                if at < 0:
                    search = max(0, len(buffer) - len(delimiter))
                    break
                after = at + len(delimiter)
                if len(buffer) < after + 2:  # the rest of the delimiter line has not arrived yet
                    search = at
                    break
                is_last = buffer[after:after + 2] == b"--"
                line_end = -1 if is_last else buffer.find(b"\r\n", after)
                if not is_last and line_end < 0:
                    search = at
                    break
                if start is not None:
                    head, sep, body = bytes(buffer[start:at]).partition(b"\r\n\r\n")
                    yield body if sep else head
                if is_last:
                    closed = True
                    break
                del buffer[:line_end + 2]
                start, search = 0, 0
            if closed:
                break
        if not closed:
            raise requests.exceptions.ChunkedEncodingError(
                f"the multipart answer from {redact(url.split('?')[0])} ended before its closing boundary")


def sop_uid_of(part: bytes) -> str:
    """The SOP Instance UID of one DICOM Part 10 object: from its file meta group when it has one
    (a few hundred bytes parsed), else from the data set headers.

    Raises DicomWebMalformedError when the part is not a DICOM object or its UID is not a UID.

    Example:
        >>> sop_uid_of(b"<html>Service Unavailable</html>")
        Traceback (most recent call last):
        ...
        medwb.io.dicomweb.config.DicomWebMalformedError: a part of the answer is not a DICOM object ...
    """
    import pydicom
    from pydicom.filereader import read_partial

    uid: Any = None
    if part[128:132] == b"DICM":
        try:  # stop at the first data set element: only the meta group is parsed
            meta = read_partial(BytesIO(part), stop_when=lambda *_: True).file_meta
            uid = meta.get("MediaStorageSOPInstanceUID")
        except Exception:  # noqa: BLE001 - a damaged meta group: parse the data set instead
            uid = None
    if not uid:
        try:
            ds = pydicom.dcmread(BytesIO(part), stop_before_pixels=True, force=True,
                                 specific_tags=["SOPInstanceUID"])
            uid = ds.get("SOPInstanceUID")
        except Exception:  # noqa: BLE001 - whatever pydicom makes of non-DICOM bytes
            uid = None
    if not uid:
        start = bytes(part[:24]) if part[128:132] != b"DICM" else b"DICM..."
        raise DicomWebMalformedError(
            f"a part of the answer is not a DICOM object ({len(part)} bytes, starting {start!r}; "
            "no SOP Instance UID).")
    try:
        return check_uid(str(uid), "SOPInstanceUID")
    except ValueError:
        shown = repr(str(uid)) if len(str(uid)) <= 80 else f"{str(uid)[:60]!r}...({len(str(uid))} characters)"
        raise DicomWebMalformedError(f"a part of the answer has SOP Instance UID {shown}, which is not a "
                                     "DICOM UID.") from None
