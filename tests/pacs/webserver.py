"""A scriptable loopback HTTP server that plays a hostile or broken DICOMweb server.

Routes map a method and a path pattern to an answer: a status, a body, and optionally a trickle (one
byte every ``trickle`` seconds, headers included with ``trickle_headers``) that gives up after
``trickle_for`` seconds by closing the connection, so that a client without a wall-clock deadline
finishes (late) instead of hanging the test run. Also: small DICOM instances, DICOM JSON search results
and multipart/related bodies to build answers from.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/dicom+json"
    trickle: float | None = None  # seconds between bytes
    trickle_after: int = 0  # body bytes sent at once before the trickle starts
    trickle_headers: bool = False
    trickle_for: float = 30.0  # then the connection is closed


@dataclass
class Route:
    method: str
    pattern: str
    answer: Answer


@dataclass
class WebServer:
    """``server.route("GET", r"/dicom-web/series$", Answer(...))``; the first matching route answers."""

    auth: tuple[str, str] | None = None  # basic authentication required when set
    routes: list[Route] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, data: bytes, answer: Answer, start: float, at_once: int = 0) -> bool:
                if answer.trickle is None:
                    self.wfile.write(data)
                    return True
                self.wfile.write(data[:at_once])
                self.wfile.flush()
                for i in range(at_once, len(data)):
                    if web._stop.is_set() or time.monotonic() - start > answer.trickle_for:
                        return False
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(answer.trickle)
                return True

            def _answer(self) -> None:
                path = self.path.split("?")[0]
                web.seen.append((self.command, self.path))
                if self.headers.get("Content-Length"):
                    self.rfile.read(int(self.headers["Content-Length"]))
                if web.auth is not None:
                    expected = "Basic " + base64.b64encode(":".join(web.auth).encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        answer = Answer(401, b"", "text/plain")
                    else:
                        answer = web.answer_for(self.command, path)
                else:
                    answer = web.answer_for(self.command, path)
                head = (f"HTTP/1.1 {answer.status} X\r\nContent-Type: {answer.content_type}\r\n"
                        f"Content-Length: {len(answer.body)}\r\n\r\n").encode()
                start = time.monotonic()
                try:
                    if answer.trickle_headers:
                        if not self._send(head + answer.body, answer, start):
                            self.close_connection = True
                        return
                    self.wfile.write(head)
                    if not self._send(answer.body, answer, start, answer.trickle_after):
                        self.close_connection = True
                except OSError:  # the client hung up (its deadline): nothing more to send
                    self.close_connection = True

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def route(self, method: str, pattern: str, answer: Answer) -> None:
        self.routes.append(Route(method, pattern, answer))

    def answer_for(self, method: str, path: str) -> Answer:
        for r in self.routes:
            if r.method == method and re.search(r.pattern, path):
                return r.answer
        return Answer(404, b"", "text/plain")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, fragment: str) -> int:
        return sum(1 for _, p in self.seen if fragment in p)

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def instance(study: str, series: str, sop: str, number: int = 1) -> bytes:
    """A small CT image as DICOM Part 10 bytes (sop need not be a valid UID: pydicom writes what it gets)."""
    import warnings

    import numpy as np
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.Modality, ds.InstanceNumber = "HOSTILE-1", "CT", number
    ds.ImagePositionPatient = [0.0, 0.0, float(number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = (np.arange(16, dtype=np.int16) * number).tobytes()
    buf = BytesIO()
    with warnings.catch_warnings():  # an invalid UID, on purpose in some tests
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def multipart(parts: list[bytes], part_type: str = "application/dicom",
              boundary: str = "medwb-test-boundary") -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/related answer holding ``parts``."""
    body = b"".join(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    return (f'multipart/related; type="{part_type}"; boundary={boundary}',
            body + f"--{boundary}--\r\n".encode())


def element(vr: str, value: object) -> dict[str, object]:
    return {"vr": vr, "Value": [value]}


def instance_listing(sops: list[str]) -> bytes:
    return json.dumps([{"00080018": element("UI", s), "00080016": element("UI", "1.2.840.10008.5.1.4.1.1.2"),
                        "00200013": element("IS", i + 1)} for i, s in enumerate(sops)]).encode()


def series_result(patient_id: str, study: object, series: object, n: int = 1) -> dict[str, object]:
    out: dict[str, object] = {"00100020": element("LO", patient_id), "00080060": element("CS", "CT"),
                              "00201209": element("IS", n)}
    if study is not None:
        out["0020000D"] = element("UI", study)
    if series is not None:
        out["0020000E"] = element("UI", series)
    return out
