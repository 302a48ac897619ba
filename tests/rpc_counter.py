"""A counting JSON-RPC relay in front of a real node: tests that must show which requests a
component makes (its own client's and pyrevm's alike) point it here. Nothing is faked: every
request goes on to the node and its answer comes back unchanged.

It runs in a process of its own: pyrevm holds the GIL while it waits on the node, so a relay in
a thread of the test's process would never answer it. `GET /counts` gives the requests per
method so far (a batch counts each call); `GET /reset` clears them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests


class CountingProxy:
    """The relay on 127.0.0.1 (a free port), started and stopped by PID with the context."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def counts(self) -> Counter[str]:
        return Counter(requests.get(self.url + "/counts", timeout=10).json())

    def of(self, *methods: str) -> int:
        counts = self.counts()
        return sum(counts[m] for m in methods)

    def reset(self) -> None:
        requests.get(self.url + "/reset", timeout=10).raise_for_status()

    def __enter__(self) -> CountingProxy:
        self._process = subprocess.Popen(
            [sys.executable, __file__, self.upstream], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        port = self._process.stdout.readline().strip()
        if not port.isdigit():
            self.__exit__(None, None, None)
            raise RuntimeError(f"the counting relay did not start: {port!r}")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None


def _serve(upstream: str) -> None:
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    session = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of a node

        def do_GET(self) -> None:
            with lock:
                if self.path == "/reset":
                    counts.clear()
                self._reply(200, json.dumps(dict(counts)).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                parsed: Any = json.loads(body)
            except ValueError:
                parsed = []
            calls = parsed if isinstance(parsed, list) else [parsed]
            with lock:
                counts.update(str(c.get("method")) for c in calls if isinstance(c, dict))
            if not hasattr(session, "http"):
                session.http = requests.Session()
            answer = session.http.post(upstream, data=body, timeout=30,
                                       headers={"Content-Type": "application/json"})  # fmt: skip
            self._reply(answer.status_code, answer.content)

        def _reply(self, status: int, content: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve(sys.argv[1])
