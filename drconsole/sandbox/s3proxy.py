"""The sandbox's S3 fault proxy: a small HTTP proxy in front of the moto server, the s3 endpoint
the sandbox's targets name (``sandbox up`` starts it). It passes every request through as it
came (method, path, headers, body) and moto's answer back, except while the fault
``s3-errors`` is injected: ``DIR/s3/fault.json`` (``{"share": 0.5}``) makes it answer that share
of requests with S3's own ``503 ServiceUnavailable``, read on every request. The sandbox's
own uploads (backup copies, Vault snapshots, audit logs) go to moto directly.

Run it with ``python -m drconsole.sandbox.s3proxy --port N --upstream M --control FILE``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from drconsole.adapters.oscmd import Background

UNAVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Service is unable to handle request.</Message></Error>"
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def control_file(root: Path) -> Path:
    """The file whose share of failing requests the proxy reads (absent: none fail)."""
    return root / "s3" / "fault.json"


@dataclass(frozen=True)
class FaultProxy:
    root: Path
    port: int
    upstream: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> Background:
        return Background(self.root / "s3" / "proxy.pid", self.root / "s3" / "proxy.log")

    def pid(self) -> int | None:
        return self.process.pid()

    def start(self) -> None:
        import socket
        import sys
        import time

        if self.pid():
            return
        self.process.start(
            [sys.executable, "-m", "drconsole.sandbox.s3proxy", "--port", str(self.port),
             "--upstream", str(self.upstream), "--control", str(control_file(self.root))]
        )  # fmt: skip
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the S3 fault proxy did not answer on {self.endpoint}")

    def stop(self) -> bool:
        return self.process.stop() is not None


def share(control: Path) -> float:
    try:
        return float(json.loads(control.read_text())["share"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _relay(self) -> None:
        body = self._body()
        if random.random() < share(self.server.control):
            self._answer(503, {"Content-Type": "application/xml"}, UNAVAILABLE)
            return
        head = self.command == "HEAD"
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=60)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP}
            self._answer(response.status, kept, data, head=head)
        except OSError as exc:
            self._answer(502, {"Content-Type": "text/plain"}, f"moto: {exc}".encode())
        finally:
            conn.close()

    def _answer(
        self, status: int, headers: dict[str, str], data: bytes, head: bool = False
    ) -> None:
        """Send an answer; a HEAD's without its body (its length kept from upstream)."""
        head = head or self.command == "HEAD"
        self.send_response_only(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "date", "server"):
                self.send_header(key, value)
        length = headers.get("Content-Length") or headers.get("content-length")
        self.send_header("Content-Length", length if head and length else str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815 - the stdlib's names


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: int, control: Path) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream = upstream
        self.control = control


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--control", required=True)
    args = parser.parse_args()
    _Server(args.port, args.upstream, Path(args.control)).serve_forever()


if __name__ == "__main__":
    main()
