"""A throw-away local Orthanc PACS with DICOMweb, for tests, benchmarks and offline tutorials.

Runs the Debian ``Orthanc`` binary in the foreground with a JSON configuration written to a folder of
its own: HTTP on a free loopback port only, the DICOM (DIMSE) server off, basic authentication with a
random password, storage and index in that folder, the DICOMweb plugin at ``/dicom-web/``. The process is
stopped by its PID. Nothing here talks to a real hospital PACS: medwb.io.dicomweb does that.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["LocalOrthanc", "OrthancUnavailable", "find_orthanc", "DICOMWEB_PLUGIN"]

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class OrthancUnavailable(RuntimeError):
    """The Orthanc binary or its DICOMweb plugin is not installed, or the server did not start."""


def find_orthanc() -> tuple[str | None, str]:
    """The Orthanc binary and DICOMweb plugin paths, and why they cannot be used ("" when they can)."""
    binary = shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if os.access(p, os.X_OK)), None)
    if binary is None:
        return None, ("the Orthanc binary is not installed; "
                      "Fix: apt-get install --no-install-recommends orthanc orthanc-dicomweb")
    if not Path(DICOMWEB_PLUGIN).exists():
        return binary, (f"the Orthanc DICOMweb plugin is missing ({DICOMWEB_PLUGIN}); "
                        "Fix: apt-get install --no-install-recommends orthanc-dicomweb")
    return binary, ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalOrthanc:
    """A local Orthanc server in ``directory`` (started by start(), stopped by stop() or ``with``).

    Args:
        directory: holds the configuration, the storage, the index and the log (``orthanc.log``).
        port: HTTP port on 127.0.0.1; a free one by default (kept across restarts).
        authentication: require HTTP basic authentication (user ``medwb``, random password).
        config: extra configuration entries merged over the defaults.

    Example:
        >>> with LocalOrthanc(tmp_path / "pacs") as pacs:          # started here, stopped on leaving
        ...     pacs.dicomweb_url.startswith("http://127.0.0.1:"), pacs.is_running, pacs.auth[0]
        (True, True, 'medwb')
        >>> pacs.is_running
        False
    """

    def __init__(self, directory: str | Path, *, port: int | None = None, authentication: bool = True,
                 config: dict[str, Any] | None = None) -> None:
        binary, why = find_orthanc()
        if why:
            raise OrthancUnavailable(why)
        self.binary: str = binary  # type: ignore[assignment]
        self.directory = Path(directory)
        self._fixed_port = bool(port)
        self.port = int(port) if port else _free_port()
        self.username = "medwb"
        self.password = secrets.token_urlsafe(12) if authentication else ""
        self.authentication = authentication
        self.extra_config = dict(config or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._why = ""

    # -- addresses ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str] | None:
        """(user, password) for requests / medwb.io.dicomweb, or None without authentication."""
        return (self.username, self.password) if self.authentication else None

    def __repr__(self) -> str:  # never shows the password
        state = "running" if self.is_running else "stopped"
        return f"LocalOrthanc({self.url}, {state}, storage={self.directory})"

    # -- life cycle -----------------------------------------------------------------------
    def configuration(self) -> dict[str, Any]:
        storage = self.directory / "storage"
        cfg: dict[str, Any] = {
            "Name": "medwb-local",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": self.authentication,
            "RegisteredUsers": {self.username: self.password} if self.authentication else {},
            "HttpCompressionEnabled": False,
            "StorageCompression": False,
            "SaveJobs": False,
            "OverwriteInstances": True,
            "HttpTimeout": 60,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True,
                         "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        }
        cfg.update(self.extra_config)
        return cfg

    @property
    def log_path(self) -> Path:
        return self.directory / "orthanc.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> LocalOrthanc:
        """Start the server and wait until its REST API and DICOMweb answer.

        When the port was chosen here and Orthanc exits at once (another process took the port in the
        meantime), it is retried twice on a new free port.
        """
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except OrthancUnavailable:
                if self._fixed_port or attempt == 2 or self._process is None or "exited" not in self._why:
                    raise
                self.port = _free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> LocalOrthanc:
        if self.is_running:
            return self
        import requests

        self._why = ""
        self.directory.mkdir(parents=True, exist_ok=True)
        cfg_path = self.directory / "orthanc.json"
        cfg_path.write_text(json.dumps(self.configuration(), indent=1))
        os.chmod(cfg_path, 0o600)  # it holds the password
        log = open(self.log_path, "ab")
        try:
            self._process = subprocess.Popen([self.binary, str(cfg_path)], stdout=log, stderr=subprocess.STDOUT,
                                             cwd=self.directory, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._why = "exited"
                raise OrthancUnavailable(f"Orthanc exited with code {self._process.returncode} while starting; "
                                         f"its log ends:\n{self.log_tail()}")
            try:
                r = requests.get(f"{self.dicomweb_url}/studies", auth=self.auth, timeout=1)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        self._why = "timeout"
        raise OrthancUnavailable(f"Orthanc did not answer on {self.url} within {timeout:.0f} s; "
                                 f"its log ends:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0, *, graceful: bool = True) -> None:
        """Stop the server by its PID: SIGTERM (Orthanc takes ~2.5 s to wind down), then SIGKILL after
        ``timeout`` seconds; ``graceful=False`` kills at once (a crash; the storage stays usable)."""
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def restart(self, timeout: float = 30.0) -> LocalOrthanc:
        """Stop and start again on the same port with the same storage (data survive)."""
        self.stop()
        return self.start(timeout=timeout)

    def __enter__(self) -> LocalOrthanc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- housekeeping ---------------------------------------------------------------------
    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call Orthanc's own REST API (not DICOMweb), e.g. rest("GET", "/statistics")."""
        import requests

        r = requests.request(method, f"{self.url}{path}", auth=self.auth, timeout=30, **kwargs)
        r.raise_for_status()
        return r.json() if r.content and "json" in r.headers.get("Content-Type", "") else r.content

    def clear(self) -> None:
        """Delete every patient (and so every study, series and instance) stored."""
        for pid in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{pid}")

    def statistics(self) -> dict[str, Any]:
        return self.rest("GET", "/statistics")
