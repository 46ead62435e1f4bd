"""A tiny loopback HTTP proxy that misbehaves on purpose: delays, 503s, responses cut short or trickled,
answers rewritten (corrupted) on their way."""

from __future__ import annotations

import base64
import http.client
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    """Forwards to ``target`` (http://127.0.0.1:PORT); set .delay, .fail_next, .cut_after, .trickle,
    .rewrite to misbehave."""

    def __init__(self, target: str, *, token: str | None = None, upstream_auth: tuple[str, str] | None = None):
        """With ``token`` the proxy is a bearer-token gateway: it answers 401 unless the request carries
        "Authorization: Bearer <token>", and forwards with ``upstream_auth`` (basic) instead."""
        self.target = urlsplit(target)
        self.token = token
        self.upstream_auth = upstream_auth
        self.delay = 0.0  # seconds before answering each request
        self.fail_next = 0  # answer this many next requests with 503
        self.cut_after: int | None = None  # send only this many body bytes of the next multipart answer
        self.trickle: float | None = None  # send multipart answers one byte every this many seconds
        self.trickle_for = 30.0  # then close the connection (a client without a deadline ends, late)
        # rewrite(path, content_type, body) -> (content_type, body) or None to pass the answer unchanged
        self.rewrite: Callable[[str, str, bytes], tuple[str, bytes] | None] | None = None
        self.arrivals: list[tuple[str, str]] = []  # (method, path) as requests come in
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status sent) as answers go out
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                proxy.arrivals.append((self.command, self.path))
                body = None
                if self.headers.get("Content-Length"):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                with proxy._lock:
                    fail = proxy.fail_next > 0
                    if fail:
                        proxy.fail_next -= 1
                if fail:
                    proxy.requests.append((self.command, self.path, 503))
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if proxy.token is not None and self.headers.get("Authorization") != f"Bearer {proxy.token}":
                    proxy.requests.append((self.command, self.path, 401))
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                time.sleep(proxy.delay)
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if proxy.upstream_auth is not None:
                    user, password = proxy.upstream_auth
                    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError:
                    proxy.requests.append((self.command, self.path, 502))
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                finally:
                    conn.close()
                ctype = resp.getheader("Content-Type", "")
                headers_out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
                changed = proxy.rewrite(self.path, ctype, data) if proxy.rewrite is not None else None
                if changed is not None:
                    ctype, data = changed
                    headers_out = [(k, v) for k, v in headers_out if k.lower() != "content-type"]
                    headers_out.append(("Content-Type", ctype))
                trickle = proxy.trickle if "multipart" in ctype else None
                cut = None
                with proxy._lock:
                    if proxy.cut_after is not None and "multipart" in resp.getheader("Content-Type", ""):
                        cut, proxy.cut_after = proxy.cut_after, None
                proxy.requests.append((self.command, self.path, resp.status))
                try:
                    self.send_response(resp.status)
                    for k, v in headers_out:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    if cut is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if trickle is not None:
                        start = time.monotonic()
                        for i in range(len(data)):
                            if time.monotonic() - start > proxy.trickle_for:
                                self.close_connection = True
                                return
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                            time.sleep(trickle)
                        return
                    self.wfile.write(data if cut is None else data[:cut])
                    self.wfile.flush()
                except OSError:  # the client gave up (timeout): nothing to tell it
                    return
                if cut is not None:
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, fragment: str) -> int:
        return sum(1 for _, path in self.arrivals if fragment in path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
