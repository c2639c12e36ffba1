"""The built-in local actions against real things: a real HTTP server on loopback, real
processes, real files; and a run without a terminal behaving as --headless."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drconsole.journal.journal import read_events
from tests.conftest import Cli, CliResult, drconsole_cmd


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        code = 200 if self.path == "/health" else 503
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"busy")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_plan(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path, text: str
) -> tuple[CliResult, list[str]]:
    result = cli.run(write_plan(text), runs=tmp_path / "runs")
    run_dir = result.run_dir
    return result, [f"{e.type}:{e.data.get('step', '')}" for e in read_events(run_dir)]


@pytest.mark.parametrize(
    ("path", "code", "failures", "said"),
    [("/health", 0, 0, None), ("/busy", 1, 2, "answered 503, expected 200")],
)
def test_http_check_passes_on_200_and_retries_a_5xx_then_reports_it(
    cli: Cli,
    write_plan: Callable[..., Path],
    tmp_path: Path,
    http_server: str,
    path: str,
    code: int,
    failures: int,
    said: str | None,
) -> None:
    result, kinds = run_plan(
        cli,
        write_plan,
        tmp_path,
        f"""
id: h
title: H
kind: verification
steps:
  - id: api
    check: local.http_check
    with: {{url: "{http_server}{path}"}}
    expect: {{status: 200}}
    retry: {{attempts: 2, delay: 0.01s}}
""",
    )
    assert result.code == code
    assert kinds.count("attempt_failed:api") == failures
    if said:
        assert said in result.out


def test_commands_capture_output_and_classify_exit_codes(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    result, kinds = run_plan(
        cli,
        write_plan,
        tmp_path,
        """
id: c
title: C
kind: drill
steps:
  - id: echo
    action: local.command
    with: {argv: [sh, -c, "echo hello; echo oops >&2; exit 3"], ok_exit: [3]}
  - id: busy
    action: local.command
    with: {argv: [sh, -c, "exit 75"], transient_exit: [75]}
    retry: {attempts: 2, delay: 0.01s}
    needs: [echo]
  - id: missing
    action: local.command
    with: {argv: [no-such-program-here]}
    on_failure: continue
""",
    )
    assert "echo | hello" in result.out  # live output
    assert kinds.count("attempt_failed:busy") == 2
    assert "program not found: no-such-program-here" in result.out


def test_wait_steps_wait(cli: Cli, write_plan: Callable[..., Path], tmp_path: Path) -> None:
    result, kinds = run_plan(
        cli,
        write_plan,
        tmp_path,
        """
id: w
title: W
kind: drill
steps:
  - {id: pause, wait: 0.2s}
""",
    )
    assert result.code == 0
    assert "step_finished:pause" in kinds


def test_without_a_terminal_run_behaves_as_headless(
    write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    plan = write_plan("id: t\ntitle: T\nkind: drill\nsteps:\n  - {id: a, wait: 0s}\n")
    done = subprocess.run(
        [*drconsole_cmd(), "run", str(plan), "--runs-dir", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "result: succeeded" in done.stdout
