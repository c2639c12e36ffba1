"""``drconsole serve``: the watch console in a browser, for a projector or a bridge call.

textual-serve runs ``drconsole watch`` once per browser tab and relays its screen over a
websocket, so the browser shows exactly what a terminal watcher shows and can do no more: no
screen of it drives a run. The page is ours, not textual-serve's (that one loads a font from
the internet): its script, stylesheet and font are the copies inside the textual-serve package,
served from here.

It listens on 127.0.0.1 unless told otherwise. Without a token only 127.0.0.1, ::1 and
``localhost`` are allowed, and requests must name one of those as their host (a web page
elsewhere cannot reach it through a name that resolves here). Any other address, other
loopback addresses included, needs ``--token-file``: a file holding a token the watchers get out
of band (told on the bridge call); they open ``http://HOST:PORT/?token=TOKEN`` once and a
cookie carries it after that. Every request without it is refused (403). The token is never
printed or logged.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}
COOKIE = "drconsole_watch"
MIN_TOKEN = 16
_FONT = "fonts/RobotoMono-VariableFont_wght.ttf"
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>drconsole watch</title>
<link rel="stylesheet" href="/static/css/xterm.css">
<style>
@font-face {{ font-family: "Roboto Mono"; src: url("/static/{font}") format("truetype"); }}
html, body {{ margin: 0; height: 100%; background: #0c181f; color: #eee;
             font-family: "Roboto Mono", monospace; }}
#terminal {{ width: 100vw; height: 100vh; }}
.closed {{ display: none; padding: 2em; }}
body.-closed .closed {{ display: block; }}
body.-closed #terminal {{ display: none; }}
</style>
<script src="/static/js/textual.js"></script>
</head>
<body>
<div class="closed">The watch session ended. <a href="/">Watch again</a></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{ws}"
     data-font-size="{font_size}"></div>
</body>
</html>
"""


class ServeError(Exception):
    """``serve`` cannot start as asked; the message says what to do."""


def read_token(path: Path) -> str:
    """The token in ``path`` (one line, at least 16 characters).

    Raises:
        ServeError: the file cannot be read or the token is too short.
    """
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"cannot read the token file {path}: {exc}") from None
    if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
        raise ServeError(
            f"the token in {path} must be one word of {MIN_TOKEN} characters or more; make "
            f"one with: openssl rand -hex 16 > {path}"
        )
    return token


def is_local(host: str) -> bool:
    return host.strip("[]") in LOCAL_HOSTS


class WatchServer(Server):
    """textual-serve's server with our page and, when a token is set, a token check."""

    def __init__(self, host: str, port: int, runs_dir: Path, token: str | None) -> None:
        # exec: the watcher is the server's own child, and ends when the server goes
        command = "exec " + shlex.join(
            [sys.executable, "-m", "drconsole", "watch", "--runs-dir", str(runs_dir)]
        )
        super().__init__(command, host=host, port=port, title="drconsole watch")
        self.runs_dir = runs_dir
        self.token = token

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/ws", self.handle_websocket),
                web.static("/static", self.statics_path),
            ]
        )
        app.on_startup.append(self.on_startup)
        return app

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Refuse a request without the token (or, without a token, naming another host)."""
        if self.token is None:
            if not is_local(request.url.host or ""):
                raise web.HTTPForbidden(text="drconsole serve answers only to 127.0.0.1\n")
            return await handler(request)
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise web.HTTPForbidden(
                text="a token is needed: open /?token=TOKEN with the token you were given\n"
            )
        response = await handler(request)
        if "token" in request.query and not response.prepared:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    async def _page(self, request: web.Request) -> web.Response:
        ws = f"ws://{request.host}/ws"
        font_size = request.query.get("fontsize", "16")
        text = PAGE.format(
            ws=html.escape(ws),
            font=_FONT,
            font_size=int(font_size) if font_size.isdigit() else 16,
        )
        return web.Response(text=text, content_type="text/html")

    def serve(self, debug: bool = False) -> None:
        """Until Ctrl+C or SIGTERM; no access log (a request line may hold the token)."""
        web.run_app(self._make_app(), host=self.host, port=self.port, access_log=None, print=None)

    async def on_startup(self, app: web.Application) -> None:
        where = f"http://{self.host}:{self.port}/"
        if self.token is not None:
            where += "?token=TOKEN (the token in the token file)"
        self.console.print(f"drconsole serve: watching runs in {self.runs_dir}, read-only")
        self.console.print(f"open {where}; Ctrl+C stops", highlight=False)


def serve(host: str, port: int, runs_dir: Path, token_file: Path | None) -> None:
    """Serve until interrupted.

    Raises:
        ServeError: a host beyond this machine without a token, or a bad token file.
    """
    token = read_token(token_file) if token_file is not None else None
    if token is None and not is_local(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ServeError(f"--host {host!r} is not an IP address or localhost") from None
        raise ServeError(
            f"--host {host} listens beyond 127.0.0.1: give watchers a token with "
            "--token-file FILE (make one with: openssl rand -hex 16 > FILE), tell them the "
            "token out of band, and they open http://HOST:PORT/?token=TOKEN"
        )
    WatchServer(host, port, runs_dir, token).serve()
