"""A wall-clock deadline for each DICOMweb request, whatever the server does.

requests' timeouts bound each socket operation (the connect, one read), not a request: a server that
sends a byte every few seconds keeps a request running for ever. Here every request made on a session
with ``watched_adapter()`` mounted, inside ``with RequestDeadline(seconds):``, is watched: when the time
is up a timer shuts its socket down, so that a read blocked in any layer (headers, body, TLS) returns at
once, and the block raises DeadlineExceeded whatever the interrupted call raised or returned (a body cut
short could otherwise pass for a whole one). Connections go back to the pool unwatched, so a deadline
never touches a request of another thread. Turning this into medwb's error (DicomWebTimeoutError, with
the URL and the fix) is medwb.io.dicomweb.config's job; this module knows nothing of DICOM.
"""

from __future__ import annotations

import functools
import socket
import threading
from typing import Any

__all__ = ["RequestDeadline", "DeadlineExceeded", "watched_adapter", "current_deadline"]

_local = threading.local()
_ATTR = "_medwb_deadline"


class DeadlineExceeded(TimeoutError):
    """The block ran past its deadline; its requests were cut off."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


def current_deadline() -> RequestDeadline | None:
    """The innermost deadline active in this thread, or None."""
    return getattr(_local, "current", None)


def _shutdown(conn: Any) -> None:
    import _socket

    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:  # the plain socket call, also for TLS: SSLSocket.shutdown would unwrap TLS under a reader's feet
        _socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # already closed: nothing left to cut
        pass


class RequestDeadline:
    """``with RequestDeadline(seconds):`` cuts off this thread's watched requests after ``seconds``.

    Example:
        >>> import time
        >>> with RequestDeadline(5.0) as deadline:
        ...     time.sleep(0.01)
        >>> deadline.expired
        False
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[Any] = []
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._previous: RequestDeadline | None = None

    def watch(self, conn: Any) -> None:
        """Cut ``conn`` off when the deadline passes (at once if it has passed)."""
        with self._lock:
            setattr(conn, _ATTR, self)
            self._watched.append(conn)
            if self.expired:
                _shutdown(conn)

    @staticmethod
    def release(conn: Any) -> None:
        """``conn`` is going back to its pool: no deadline may touch it any more."""
        owner: RequestDeadline | None = getattr(conn, _ATTR, None)
        if owner is None:
            return
        with owner._lock:
            if getattr(conn, _ATTR, None) is owner:
                delattr(conn, _ATTR)
            owner._watched = [c for c in owner._watched if c is not conn]

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for conn in self._watched:
                _shutdown(conn)

    def __enter__(self) -> RequestDeadline:
        self._previous = current_deadline()
        _local.current = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _local.current = self._previous
        with self._lock:
            watched, self._watched = self._watched, []
            for conn in watched:
                if getattr(conn, _ATTR, None) is self:
                    delattr(conn, _ATTR)
        if self.expired:
            raise DeadlineExceeded(self.seconds) from None


@functools.lru_cache(maxsize=1)
def _pool_classes() -> dict[str, type]:
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def watched(base: type) -> type:
        class Pool(base):  # type: ignore[valid-type, misc]
            def _get_conn(self, timeout: float | None = None) -> Any:
                conn = super()._get_conn(timeout)
                deadline = current_deadline()
                if deadline is not None:
                    deadline.watch(conn)
                return conn

            def _put_conn(self, conn: Any) -> None:
                if conn is not None:
                    RequestDeadline.release(conn)
                super()._put_conn(conn)

        Pool.__name__ = Pool.__qualname__ = f"Watched{base.__name__}"
        return Pool

    return {"http": watched(HTTPConnectionPool), "https": watched(HTTPSConnectionPool)}


def watched_adapter(**kwargs: Any) -> Any:
    """A requests HTTPAdapter whose connections obey the deadline active in the calling thread."""
    return _adapter_class()(**kwargs)


@functools.lru_cache(maxsize=1)
def _adapter_class() -> type:
    from requests.adapters import HTTPAdapter

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kw: Any) -> None:
            super().init_poolmanager(*args, **kw)
            self.poolmanager.pool_classes_by_scheme = _pool_classes()

        def proxy_manager_for(self, proxy: str, **kw: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kw)
            manager.pool_classes_by_scheme = _pool_classes()
            return manager

    return WatchedAdapter
