"""Where a DICOMweb server is, how to authenticate to it, and how patiently to talk to it.

Credentials come from (first wins) the arguments, the environment (``MEDWB_DICOMWEB_URL``,
``MEDWB_DICOMWEB_TOKEN``, ``MEDWB_DICOMWEB_USER`` / ``MEDWB_DICOMWEB_PASSWORD``, ``MEDWB_DICOMWEB_HEADERS``
as JSON) or a JSON file (``MEDWB_DICOMWEB_CONFIG``, default ``~/.config/medwb/dicomweb.json``), so that a
notebook never needs to hold a secret. Credentials written into the URL (``http://user:password@host``)
are taken out of it as basic authentication, so the URL kept, shown and sent never carries them, and
redact() is the one scrubber of every message, repr and progress bar that could show a URL or a secret.
Also here: the errors of medwb.io.dicomweb, the bounded retry with exponential backoff, and the
wall-clock deadline of each request (``deadline``, medwb.io.dicomweb.deadline).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from medwb.io.dicomweb.deadline import DeadlineExceeded, RequestDeadline, watched_adapter

__all__ = [
    "DicomWebSettings", "DicomWebError", "DicomWebConnectionError", "DicomWebTimeoutError", "DicomWebNotFoundError",
    "DicomWebAuthError", "DicomWebStoreError", "DicomWebMalformedError", "DicomWebWarning", "with_retries",
    "within_deadline", "fatal_error", "default_config_path", "redact", "split_credentials", "RETRY_STATUS",
    "DEFAULT_DEADLINE",
]

T = TypeVar("T")
#: HTTP statuses worth another try: timeouts, throttling, a server restarting or overloaded.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Seconds one request may take from start to last byte (a multipart series retrieval included).
DEFAULT_DEADLINE = 300.0
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


class DicomWebError(RuntimeError):
    """A DICOMweb request failed; the message names the request and what to do."""


class DicomWebConnectionError(DicomWebError):
    """The server could not be reached, timed out or kept failing after every allowed retry."""


class DicomWebTimeoutError(DicomWebConnectionError):
    """A request ran past its wall-clock deadline (a slow or trickling server); it is not retried."""


class DicomWebMalformedError(DicomWebError):
    """The server's answer is not what DICOMweb promises (bad JSON, a malformed UID, a non-DICOM part)."""


class DicomWebWarning(UserWarning):
    """Something in a server's answer was left out (e.g. a search result with a malformed UID)."""


class DicomWebNotFoundError(DicomWebError, LookupError):
    """The server has no such study / series / instance (HTTP 404 or an empty search)."""


class DicomWebAuthError(DicomWebError):
    """The server refused the credentials (HTTP 401 / 403)."""


class DicomWebStoreError(DicomWebError):
    """STOW-RS refused some instances (FailedSOPSequence) or the whole request."""


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` with the credentials of every URL in it and every one of ``secrets`` replaced by ***.

    The one scrubber of medwb.io.dicomweb: reprs, error messages, warnings and progress bars go through it.

    Example:
        >>> redact("GET http://ann:pa55@pacs:8042/dicom-web failed; key k-1234", secrets=["k-1234"])
        'GET http://***@pacs:8042/dicom-web failed; key ***'
    """
    out = _USERINFO.sub(r"\1***@", str(text))
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            out = out.replace(form, "***")
    return out


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(url without user:password@, user, password); user and password are None when the URL has none.

    Example:
        >>> split_credentials("https://ann:p%40ss@pacs.example.org/dicom-web")
        ('https://pacs.example.org/dicom-web', 'ann', 'p@ss')
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return (urlunsplit(parts._replace(netloc=host)), unquote(user) if user else None,
            unquote(password) if colon else None)


def default_config_path() -> Path:
    env = os.environ.get("MEDWB_DICOMWEB_CONFIG")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "medwb" / "dicomweb.json"


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(f"{path} holds DICOMweb credentials and other users can read it.\n"
                      f"Fix: chmod 600 {path}", UserWarning, stacklevel=3)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DicomWebError(f"{path} is not valid JSON ({e.msg}, line {e.lineno}).\n"
                            'Fix: write e.g. {"url": "https://pacs/dicom-web", "token": "..."}') from None
    if not isinstance(data, dict):
        raise DicomWebError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class DicomWebSettings:
    """Connection settings. Build with DicomWebSettings.resolve(); secrets are hidden in the repr.

    Args:
        url: DICOMweb root, e.g. "http://127.0.0.1:8042/dicom-web".
        token: bearer token (sent as "Authorization: Bearer ...").
        username, password: HTTP basic authentication (when no token).
        headers: further request headers (e.g. an API key header); values are treated as secrets.
        timeout: (connect, read) seconds: how long to wait for the connection, and for each read.
        deadline: wall-clock seconds for one whole request, last byte included (a server that trickles
            its answer is cut off then, and DicomWebTimeoutError raised without a retry).
        retries: further attempts after a failed one (connection error, timeout, 5xx, 429, 408).
        backoff: first wait in seconds; doubled after every failure, capped at ``backoff_max``.

    A URL with credentials in it (``http://user:password@host/...``) is split: the credentials become
    basic authentication (unless username or token are given) and ``url`` keeps the rest.

    Example:
        >>> s = DicomWebSettings.resolve("http://127.0.0.1:8042/dicom-web", token="s3cret", config_path="/nonexistent")
        >>> "s3cret" in repr(s), s.auth_kind
        (False, 'bearer token')
        >>> s = DicomWebSettings.resolve("http://ann:pa55word@127.0.0.1:8042/dicom-web", config_path="/nonexistent")
        >>> s.url, s.auth_kind, "pa55word" in repr(s)
        ('http://127.0.0.1:8042/dicom-web', 'basic', False)
    """

    url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: tuple[float, float] = (5.0, 60.0)
    deadline: float = DEFAULT_DEADLINE
    retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 8.0

    def __post_init__(self) -> None:
        url, user, password = split_credentials(str(self.url))
        object.__setattr__(self, "url", url)
        if user is not None and self.username is None and self.token is None:
            object.__setattr__(self, "username", user)
            object.__setattr__(self, "password", password if self.password is None else self.password)
        try:
            deadline = float(self.deadline)
        except (TypeError, ValueError):
            deadline = math.nan
        if not (math.isfinite(deadline) and deadline > 0):
            raise DicomWebError(f"deadline is {self.deadline!r}; it must be a positive number of seconds.\n"
                                f"Fix: pass e.g. deadline={DEFAULT_DEADLINE:g} (the default), or more for a slow link.")
        object.__setattr__(self, "deadline", deadline)

    @classmethod
    def resolve(cls, url: str | None = None, *, token: str | None = None, username: str | None = None,
                password: str | None = None, headers: dict[str, str] | None = None,
                config_path: str | Path | None = None, **options: Any) -> DicomWebSettings:
        """Arguments first, then MEDWB_DICOMWEB_* environment variables, then the config file."""
        cfg = _read_config(Path(config_path).expanduser() if config_path else default_config_path())
        env = os.environ

        def pick(arg: Any, env_name: str, key: str) -> Any:
            if arg is not None:
                return arg
            if env.get(env_name):
                return env[env_name]
            return cfg.get(key)

        url = pick(url, "MEDWB_DICOMWEB_URL", "url")
        if not url:
            raise DicomWebError(
                "no DICOMweb URL given.\nFix: pass url='https://pacs.example.org/dicom-web', set "
                f"MEDWB_DICOMWEB_URL, or write {{\"url\": ...}} into {default_config_path()}."
            )
        hdrs = dict(cfg.get("headers") or {})
        if env.get("MEDWB_DICOMWEB_HEADERS"):
            try:
                hdrs.update(json.loads(env["MEDWB_DICOMWEB_HEADERS"]))
            except json.JSONDecodeError:
                raise DicomWebError('MEDWB_DICOMWEB_HEADERS must be a JSON object, e.g. {"X-Api-Key": "..."}'
                                    ) from None
        hdrs.update(headers or {})
        for key in ("timeout", "deadline", "retries", "backoff", "backoff_max"):
            if key not in options and key in cfg:
                options[key] = cfg[key]
        if "timeout" in options:
            t = options["timeout"]
            options["timeout"] = (float(t), float(t)) if isinstance(t, (int, float)) else tuple(map(float, t))
        return cls(url=str(url).rstrip("/"), token=pick(token, "MEDWB_DICOMWEB_TOKEN", "token"),
                   username=pick(username, "MEDWB_DICOMWEB_USER", "username"),
                   password=pick(password, "MEDWB_DICOMWEB_PASSWORD", "password"),
                   headers={str(k): str(v) for k, v in hdrs.items()}, **options)

    @property
    def auth_kind(self) -> str:
        if self.token:
            return "bearer token"
        if self.username:
            return "basic"
        return "header" if self.headers else "none"

    def session(self) -> Any:
        """A requests.Session carrying the credentials (kept out of URLs and reprs)."""
        import requests

        s = requests.Session()
        s.mount("http://", watched_adapter())  # every request obeys the deadline of within_deadline()
        s.mount("https://", watched_adapter())
        s.headers.update(self.headers)
        if self.token:
            s.headers["Authorization"] = f"Bearer {self.token}"
        elif self.username:
            s.auth = (self.username, self.password or "")
        return s

    def secrets(self) -> list[str]:
        """Values that must never be shown (used to scrub error messages)."""
        vals = [self.token, self.password, *self.headers.values()]
        return [v for v in vals if v and len(v) >= 4]

    def scrub(self, text: object) -> str:
        """``text`` with URL credentials and this server's secrets hidden (see redact)."""
        return redact(text, self.secrets())


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def fatal_error(exc: BaseException, what: str, settings: DicomWebSettings) -> DicomWebError | None:
    """The medwb error for an HTTP failure that retrying cannot fix (404, 401/403, other 4xx), else None."""
    code = _status(exc)
    if code is None or code in RETRY_STATUS:
        return None
    if code == 404:
        return DicomWebNotFoundError(f"{what}: the server has no such object (HTTP 404).\n"
                                     "Fix: check the UIDs with a search first.")
    if code in (401, 403):
        return DicomWebAuthError(
            f"{what}: the server refused the credentials (HTTP {code}, auth={settings.auth_kind}).\n"
            "Fix: set MEDWB_DICOMWEB_TOKEN (or MEDWB_DICOMWEB_USER / MEDWB_DICOMWEB_PASSWORD), or "
            f"put them in {default_config_path()}.")
    return DicomWebError(f"{what}: HTTP {code}: {settings.scrub(str(exc))[:300]}")


@contextmanager
def within_deadline(settings: DicomWebSettings, what: str) -> Iterator[RequestDeadline]:
    """Run the requests of the block under ``settings.deadline``; past it, DicomWebTimeoutError."""
    try:
        with RequestDeadline(settings.deadline) as deadline:
            yield deadline
    except DeadlineExceeded:
        raise DicomWebTimeoutError(settings.scrub(
            f"{what}: {settings.url} sent no complete answer within the {settings.deadline:g} s deadline "
            "(a very slow server, or one that trickles its answer).\n"
            "Fix: pass deadline=SECONDS (or \"deadline\" in the config file) for a slow link, or check the "
            "server. Retrieval resumes from the cache when you run it again.")) from None


def with_retries(call: Callable[[], T], *, what: str, settings: DicomWebSettings,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``; retry connection errors, timeouts and retryable HTTP statuses with backoff.

    404 raises DicomWebNotFoundError and 401/403 DicomWebAuthError at once (retrying cannot help).
    Each attempt runs under the wall-clock ``settings.deadline``; one that runs past it raises
    DicomWebTimeoutError at once (a trickling server would only trickle again).
    After ``settings.retries`` further failures, DicomWebConnectionError names the last cause.
    """
    import requests

    attempts = settings.retries + 1
    delay = settings.backoff
    last: BaseException | None = None
    for attempt in range(attempts):
        try:
            with within_deadline(settings, what):
                return call()
        except requests.HTTPError as e:
            fatal = fatal_error(e, what, settings)
            if fatal is not None:
                raise fatal from None
            last = e
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            last = e
        if attempt + 1 < attempts:
            sleep(min(delay, settings.backoff_max))
            delay *= 2
    kind = type(last).__name__
    raise DicomWebConnectionError(
        f"{what}: failed {attempts} time(s) against {settings.url}; last error {kind}: "
        f"{settings.scrub(str(last))[:300]}.\n"
        "Fix: check that the server is up and reachable; raise timeout=(connect, read) for a slow server "
        "or retries=... for a flaky one. Retrieval resumes from the cache when you run it again."
    ) from None
