"""The ``drconsole`` command line: validate, schema, run, resume, journal verify, report,
postmortem, runs, history, export and verify-pack (audit packs).

Heavy modules are imported inside the commands so that ``drconsole --help`` starts fast. Exit
codes: 0 success; 1 a step failed, the run was aborted or interrupted, or a check found a fault;
2 the plan, a file or the command line is invalid.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drconsole.engine.runner import Engine

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _err(message: str) -> None:
    print(f"drconsole: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drconsole",
        description="Disaster-recovery console: verify backups, restore, run key ceremonies "
        "and fail over, with a tamper-evident record of every step.",
    )
    parser.add_argument("--version", action="version", version="drconsole 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check plan files; one line per problem")
    p.add_argument("paths", nargs="+", metavar="PATH", help="plan files or directories")

    p = sub.add_parser("console", help="the interactive console (the default on a terminal)")
    p.add_argument(
        "--plans",
        action="append",
        default=[],
        metavar="DIR",
        help="another directory of plans (plans/ is always listed)",
    )
    p.add_argument("--targets", metavar="FILE", help="targets file (default: the sandbox's)")
    p.add_argument("--runs-dir", metavar="DIR")
    p.add_argument("--operator", metavar="NAME")
    p.add_argument("--mode", choices=["drill", "real", "dry-run"], default="drill")

    sub.add_parser("schema", help="print the plan JSON Schema (for editors)")
    sub.add_parser("actions", help="list the adapter actions plans can call")

    p = sub.add_parser("run", help="run a plan")
    p.add_argument("plan", metavar="PLAN", help="the plan file")
    p.add_argument("--headless", action="store_true", help="no TUI; answers from --answers")
    p.add_argument("--mode", choices=["drill", "real", "dry-run"], default="drill")
    p.add_argument(
        "--targets",
        metavar="FILE",
        help="targets file (sites and systems); default $DRCONSOLE_TARGETS, else the sandbox's "
        "(never in real mode)",
    )
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a plan input; repeat for more",
    )
    p.add_argument("--answers", metavar="FILE", help="answers file for the operator's questions")
    p.add_argument("--runs-dir", metavar="DIR", help="where run directories are made")
    p.add_argument("--operator", metavar="NAME", help="who is running it (for the record)")
    p.add_argument(
        "--yes",
        action="store_true",
        help="confirm confirmations by itself (drill and dry-run only)",
    )
    p.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="write the run's Prometheus metrics here at the end, atomically (node_exporter's "
        "textfile collector); headless runs",
    )

    p = sub.add_parser("resume", help="continue a run whose process stopped")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--answers", metavar="FILE")
    p.add_argument("--operator", metavar="NAME")
    p.add_argument("--yes", action="store_true", help="as for run (not in real mode)")
    p.add_argument("--headless", action="store_true")

    p = sub.add_parser("journal", help="journal tools")
    jsub = p.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    jp = jsub.add_parser("verify", help="check a run's hash chain; name the first bad line")
    jp.add_argument("run_dir", metavar="RUN_DIR")

    p = sub.add_parser("report", help="a run's report")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--format",
        choices=["md", "json", "html", "junit", "prom"],
        default="md",
        help="md, json, html (self-contained, printable), junit (XML) or prom (Prometheus)",
    )
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")

    p = sub.add_parser("postmortem", help="a post-mortem draft of a run (Markdown)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")

    p = sub.add_parser("record", help="a ceremony's record for participants to sign")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=["md", "html", "json"], default="md")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")

    p = sub.add_parser("runs", help="list past runs")
    p.add_argument("--runs-dir", metavar="DIR")

    p = sub.add_parser("history", help="per plan: every run, the RTO trend, what is overdue")
    p.add_argument("plan", nargs="?", metavar="PLAN", help="one plan's id (default: all)")
    p.add_argument("--since", metavar="DATE", help="runs started on or after (2026-01-01)")
    p.add_argument("--format", choices=["md", "json", "html"], default="md")
    p.add_argument("--runs-dir", metavar="DIR")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")

    p = sub.add_parser("export", help="an audit pack: runs, reports, verification, manifest")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--output", metavar="FILE", required=True, help="the zip file to write")

    p = sub.add_parser("verify-pack", help="check an audit pack offline; name what changed")
    p.add_argument("pack", metavar="PACK")
    p.add_argument(
        "--manifest-sha256", metavar="HEX", help="the manifest hash export printed, to hold it to"
    )

    p = sub.add_parser("watch", help="follow a run driven elsewhere, read-only")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="the run (default: pick one)")
    p.add_argument("--runs-dir", metavar="DIR", help="the runs to pick from")
    p.add_argument("--poll", action="store_true", help="poll the journal instead of inotify")

    p = sub.add_parser("serve", help="the watch console in a browser (read-only)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--runs-dir", metavar="DIR")
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="a file holding the token watchers must give (needed beyond 127.0.0.1)",
    )

    p = sub.add_parser("facilitate", help="watch a drill and inject faults into its sandbox")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run to watch")
    p.add_argument("--dir", metavar="DIR", help="the sandbox (default: the run's)")
    p.add_argument("--operator", help="the facilitator's name (default: you)")

    p = sub.add_parser("sandbox", help="local practice services (databases, Vault, S3, HSM)")
    ssub = p.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)
    for name, text in (
        ("up", "create if missing and start"),
        ("down", "stop everything"),
        ("status", "each service, port and health"),
    ):
        sp = ssub.add_parser(name, help=text)
        sp.add_argument("--dir", metavar="DIR", help="the sandbox directory")
    sp = ssub.add_parser("env", help="print export lines for eval")
    sp.add_argument("--dir", metavar="DIR")
    sp.add_argument("--site", choices=["primary", "dr", "sandbox"], default="primary")
    sp = ssub.add_parser("publish", help="upload the newest pgBackRest backup to the bucket")
    sp.add_argument("--dir", metavar="DIR")
    sp = ssub.add_parser("snapshot", help="take an OpenBao raft snapshot now (and upload it)")
    sp.add_argument("--dir", metavar="DIR")
    sp.add_argument("--site", choices=["primary", "dr"], default="primary")
    sp = ssub.add_parser("fail-primary", help="simulate the primary site's failure (drills)")
    sp.add_argument("--dir", metavar="DIR")
    sp = ssub.add_parser("lose-site", help="destroy the primary site for a full-site drill")
    sp.add_argument("--dir", metavar="DIR")
    for name, text in (
        ("prepare-drill", "roles, writer and DR Vault ready for a drill"),
        ("reset", "back to the healthy baseline after any drill"),
    ):
        sp = ssub.add_parser(name, help=text)
        sp.add_argument("--dir", metavar="DIR")
        sp.add_argument("--runs-dir", metavar="DIR",
                        help="refused while a run here is driven against the sandbox "
                             "(default: the runs directory)")  # fmt: skip
    sp = ssub.add_parser("hsm", help="practice stand-ins for the HSM vendor's commands")
    sp.add_argument("action", choices=["backup", "restore", "clear"])
    sp.add_argument("file", nargs="?", metavar="FILE", help="the practice backup file")
    sp.add_argument("--dir", metavar="DIR")
    for name, text in (
        ("inject", "a drill facilitator's fault, a real change (sandbox sites only)"),
        ("heal", "undo an injected fault exactly"),
    ):
        sp = ssub.add_parser(name, help=text)
        sp.add_argument("fault", metavar="FAULT", help="crashloop, seal-vault, lag-standby, "
                        "s3-errors, corrupt-backup, stale-backup or dns-drift")  # fmt: skip
        sp.add_argument("--site", choices=["primary", "dr"], help="default: the fault's own")
        sp.add_argument("--operator", help="who does it, for the sandbox's log (default: you)")
        sp.add_argument("--dir", metavar="DIR")
        if name == "inject":
            sp.add_argument("--share", type=float, default=0.5, help="s3-errors: share failing")
    sp = ssub.add_parser("writer", help="start or stop the steady writer")
    sp.add_argument("action", choices=["start", "stop"])
    sp.add_argument("--dir", metavar="DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``drconsole`` command."""
    parser = _parser()
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0].startswith("-") and given[0] not in ("-h", "--help", "--version"):
        # `drconsole --operator kim` read 'kim' as an unknown command
        _err(
            f"{given[0]} is an option of a command and goes after it, e.g. "
            f"'drconsole console {' '.join(given)}' (drconsole --help lists the commands)"
        )
        return EXIT_INVALID
    args = parser.parse_args(given)
    if args.command is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            return cmd_console(parser.parse_args(["console"]))
        parser.print_help()
        return EXIT_OK
    handler = {
        "validate": cmd_validate,
        "schema": cmd_schema,
        "actions": cmd_actions,
        "run": cmd_run,
        "resume": cmd_resume,
        "journal": cmd_journal_verify,
        "report": cmd_report,
        "record": cmd_record,
        "postmortem": cmd_postmortem,
        "runs": cmd_runs,
        "history": cmd_history,
        "export": cmd_export,
        "verify-pack": cmd_verify_pack,
        "sandbox": cmd_sandbox,
        "console": cmd_console,
        "watch": cmd_watch,
        "serve": cmd_serve,
        "facilitate": cmd_facilitate,
    }[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_OK


def _plan_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from drconsole.plans.validate import load_plan, offline_capable

    bad = 0
    files = _plan_files(args.paths)
    if not files:
        _err("no plan files found in " + ", ".join(args.paths))
        return EXIT_FAILED
    for path in files:
        result = load_plan(path)
        for problem in result.problems:
            print(problem, file=sys.stderr)
        if not result.ok:
            bad += 1
        elif result.plan is not None:
            offline = ", offline-capable" if offline_capable(result.plan) else ""
            print(f"{path}: ok ({len(result.plan.steps)} steps{offline})")
    return EXIT_INVALID if bad else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from drconsole.plans.model import Plan

    schema = Plan.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "drconsole plan"
    print(json.dumps(schema, indent=2))
    return EXIT_OK


def cmd_actions(args: argparse.Namespace) -> int:
    from drconsole.adapters.registry import actions

    for spec in actions().values():
        flags = [spec.effect.value, "idempotent" if spec.idempotent else "not idempotent"]
        if spec.needs_site:
            flags.append("needs site")
        print(f"{spec.name}  ({', '.join(flags)})\n    {spec.summary}")
        for name, info in spec.params.model_fields.items():
            required = "required" if info.is_required() else f"default {info.default!r}"
            print(f"    with.{name}: {info.description or ''} [{required}]")
        for name, text in spec.outputs.items():
            print(f"    outputs.{name}: {text}")
    return EXIT_OK


def _parse_inputs(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--input {pair!r}: write KEY=VALUE")
        values[key.strip()] = value
    return values


class _Printer:
    """Prints journaled events as short lines (the headless run's screen)."""

    def __init__(self) -> None:
        self.stream = sys.stdout

    def event(self, event: Any, state: Any) -> None:
        from drconsole.engine.events import EventType, describe

        if event.type != EventType.RUN_STARTED:  # the run directory line says it
            print(f"[{event.ts[11:19]}] {describe(event)}", file=self.stream, flush=True)

    def live(self, step_id: str, line: str) -> None:
        print(f"         {step_id} | {line}", file=self.stream, flush=True)


def _who(given: str | None) -> str:
    """Who runs: the name given, else the login name. The console and a headless run name
    the same person alike (the run's title, the journal's and the report's operator)."""
    import getpass

    try:
        return given or getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return "operator"


def _operator(args: argparse.Namespace) -> Any:
    from drconsole.engine.answers import AnswersOperator, load_answers

    answers = load_answers(args.answers) if args.answers else None
    name = _who(args.operator or (answers.operator if answers else None))
    return AnswersOperator(answers, name=name, yes=args.yes), answers


def _title(engine: Engine) -> None:
    """The run screen's title, for a headless run: the mode in the console's words, the plan,
    who runs it and the run."""
    from drconsole.tui.labels import MODE_LABELS

    print(f"{MODE_LABELS[engine.mode]} │ {engine.plan.title}", flush=True)
    print(f"{engine.state.who(engine.operator.name)} │ run {engine.state.run_id}", flush=True)


async def _remind(engine: Engine) -> None:
    """The run screen's incident lines, headless: the severity and its cadence once, then
    ``NOTIFY ...`` each time an update to the stakeholders falls due (checked every second,
    as the run screen's clock ticks)."""
    import asyncio

    from drconsole.engine.clocks import incident
    from drconsole.timeutil import utcnow

    last = None
    while True:
        now = utcnow()
        found = incident(engine.state, now)
        if found is not None and found.next_update is not None:
            line = found.announcement(last)
            if line is not None:
                print(f"[{now:%H:%M:%S}] {line}", flush=True)
            last = found.next_update
        await asyncio.sleep(1.0)


def _drive(engine: Engine) -> int:
    import asyncio
    import signal

    async def go() -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, engine.interrupt, f"signal {sig.name}")
        reminding = asyncio.create_task(_remind(engine))
        try:
            return await engine.run()
        finally:
            reminding.cancel()

    from drconsole.journal.journal import JournalError

    run_dir = engine.run_dir
    try:
        result = asyncio.run(go())
    except JournalError as exc:
        _err(
            f"the run stopped because its journal could not be written: {exc}. The journal "
            "ends at its last complete event and verifies; free space, then resume with: "
            f"drconsole resume {run_dir}"
        )
        return EXIT_FAILED
    finally:
        engine.journal.close()
    from drconsole.runs.state import RunResult

    if result is None:
        print(f"interrupted; resume with: drconsole resume {run_dir}")
        return EXIT_FAILED
    clocks = engine.clocks()
    from drconsole.timeutil import format_duration

    if clocks.rto_objective is None and clocks.rpo_objective is None:  # as the screens say it
        times = f"elapsed {format_duration(clocks.rto_elapsed)} (no RTO or RPO objective)"
    else:
        times = (
            f"RTO {format_duration(clocks.rto_elapsed)} ({clocks.rto_status}), RPO "
            f"{format_duration(clocks.rpo_achieved)} "
            f"({clocks.rpo_status}{': ' + clocks.rpo_reason if clocks.rpo_reason else ''})"
        )
    print(f"result: {result.value}; {times}")
    from drconsole.engine.clocks import incident
    from drconsole.timeutil import utcnow

    found = incident(engine.state, utcnow())
    if found is not None:
        print(f"incident: {found.summary()}")
    if result is not RunResult.SUCCEEDED:
        from drconsole.sandbox.baseline import hint

        off_baseline = hint(engine.state.targets_file)
        if off_baseline is not None:
            print(off_baseline)
    print(
        f"report: drconsole report {run_dir}; post-mortem draft: drconsole postmortem {run_dir}"
        if found is not None
        else f"report: drconsole report {run_dir}"
    )
    return EXIT_OK if result is RunResult.SUCCEEDED else EXIT_FAILED


def _needs_tui(args: argparse.Namespace) -> bool:
    return not args.headless and sys.stdin.isatty() and sys.stdout.isatty()


def cmd_run(args: argparse.Namespace) -> int:
    from drconsole.engine.answers import AnswersError
    from drconsole.engine.launch import LaunchError, prepare_new
    from drconsole.engine.modes import Mode

    if args.metrics_file and not _metrics_dir_ok(args.metrics_file, headless=not _needs_tui(args)):
        return EXIT_INVALID
    if _needs_tui(args):
        try:
            given = _parse_inputs(args.input)
        except ValueError as exc:
            _err(str(exc))
            return EXIT_INVALID
        return _console(
            targets=args.targets,
            runs_dir=args.runs_dir,
            operator=args.operator,
            mode=args.mode,
            given_inputs=given,
            start_plan=Path(args.plan),
        )
    try:
        given = _parse_inputs(args.input)
        operator, answers = _operator(args)
    except (ValueError, AnswersError) as exc:
        _err(str(exc))
        return EXIT_INVALID
    if answers is not None:
        given = {**{k: v for k, v in answers.inputs.items()}, **given}
    runs_dir = _runs_dir(args)
    targets = Path(args.targets) if args.targets else None
    if targets is None and Mode(args.mode) is not Mode.REAL:
        targets = _default_targets()  # the sandbox's, as in the console; never for a real run
    try:
        prepared = prepare_new(
            Path(args.plan),
            runs_dir=runs_dir,
            operator=operator,
            mode=Mode(args.mode),
            given_inputs=given,
            targets_path=targets,
            yes=args.yes,
            observers=[_Printer()],
        )
    except LaunchError as exc:
        _err(str(exc))
        return EXIT_INVALID
    print(prepared.run_dir, flush=True)
    _title(prepared.engine)
    if targets is not None and not args.targets:
        print(f"targets: {targets} (the default; --targets FILE for another)", flush=True)
    code = _drive(prepared.engine)
    if args.metrics_file and not _write_metrics(prepared.run_dir, args.metrics_file):
        return EXIT_FAILED
    return code


def _metrics_dir_ok(path: str, *, headless: bool) -> bool:
    """--metrics-file is checked before the run starts: a headless run, a directory that
    exists (said why when not)."""
    if not headless:
        _err("--metrics-file is for headless runs; add --headless")
        return False
    if not Path(path).parent.is_dir():
        _err(f"--metrics-file {path}: the directory {Path(path).parent} does not exist")
        return False
    return True


def _write_metrics(run_dir: Path, path: str) -> bool:
    """Write the finished run's metrics to ``path`` atomically (said why when it cannot)."""
    from drconsole.journal.files import describe_write_error, write_private
    from drconsole.report.metrics import to_prom
    from drconsole.runs.read import read_run

    try:
        write_private(Path(path), to_prom(read_run(run_dir)))
    except OSError as exc:
        _err(f"{describe_write_error(exc, Path(path))}; the metrics were not written")
        return False
    print(f"metrics: {path}")
    return True


def cmd_resume(args: argparse.Namespace) -> int:
    import io

    from drconsole.engine.answers import AnswersError
    from drconsole.engine.launch import LaunchError, prepare_resume

    if _needs_tui(args):
        return _console(resume=Path(args.run_dir), operator=args.operator)
    try:
        operator, _ = _operator(args)
    except AnswersError as exc:
        _err(str(exc))
        return EXIT_INVALID
    printer = _Printer()
    printer.stream = held = io.StringIO()  # 'RUN RESUMED' after the directory and the title
    try:
        prepared = prepare_resume(
            Path(args.run_dir), operator=operator, observers=[printer], yes=args.yes
        )
    except LaunchError as exc:
        _err(str(exc))
        return EXIT_INVALID
    print(prepared.run_dir, flush=True)
    _title(prepared.engine)
    printer.stream = sys.stdout
    print(held.getvalue(), end="", flush=True)
    return _drive(prepared.engine)


def cmd_journal_verify(args: argparse.Namespace) -> int:
    from drconsole.journal.journal import verify

    report = verify(args.run_dir)
    if report.ok:
        print(f"{args.run_dir}: {report.describe()}")
        return EXIT_OK
    _err(f"{args.run_dir}/journal.jsonl: {report.describe()}")
    return EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from drconsole.report.formats import render
    from drconsole.runs.read import read_run

    run_dir = _run_dir(args.run_dir)
    if run_dir is None:
        return EXIT_INVALID
    run = read_run(run_dir)
    if args.format == "md" and args.output is None and sys.stdout.isatty():
        from drconsole.report.build import build, to_markdown

        text = to_markdown(build(run), narrow=True)  # at a terminal: its tables fit 80 columns
    else:
        text = render(run, args.format)
    if not _write_or_print(text, args.output):
        return EXIT_FAILED
    return EXIT_OK if run.check.ok else EXIT_FAILED


def _runs_dir(args: argparse.Namespace) -> Path:
    """The runs directory a command names with --runs-dir, else the default one."""
    from drconsole.runs.rundir import default_runs_dir

    return Path(args.runs_dir) if getattr(args, "runs_dir", None) else default_runs_dir()


def _run_dir(given: str) -> Path | None:
    """The run directory named on the command line, or None (said why) when it is not one."""
    from drconsole.journal.journal import is_run_dir

    run_dir = Path(given)
    if not is_run_dir(run_dir):
        _err(f"{run_dir} is not a run directory (it has no journal.jsonl)")
        return None
    return run_dir


def _write_or_print(text: str, output: str | None) -> bool:
    """Print ``text``, or write it to ``output`` whole or not at all (said why when not)."""
    from drconsole.journal.files import describe_write_error, write_private

    if not output:
        print(text)
        return True
    try:
        write_private(Path(output), text + "\n")
    except OSError as exc:
        _err(f"{describe_write_error(exc, Path(output))}; nothing was written to {output}")
        return False
    print(output)
    return True


def cmd_postmortem(args: argparse.Namespace) -> int:
    from drconsole.report.postmortem import draft
    from drconsole.runs.read import read_run

    run_dir = _run_dir(args.run_dir)
    if run_dir is None:
        return EXIT_INVALID
    run = read_run(run_dir)
    if not _write_or_print(draft(run), args.output):
        return EXIT_FAILED
    return EXIT_OK if run.check.ok else EXIT_FAILED


def cmd_record(args: argparse.Namespace) -> int:
    import json

    from drconsole.report.record import build_record, to_html, to_markdown

    run_dir = _run_dir(args.run_dir)
    if run_dir is None:
        return EXIT_INVALID
    record = build_record(run_dir)
    if not record["participants"]:
        _err(f"{run_dir} is not a ceremony (nobody signed in); use: drconsole report {run_dir}")
        return EXIT_INVALID
    render = {
        "json": lambda r: json.dumps(r, indent=2, ensure_ascii=False),
        "html": to_html,
        "md": to_markdown,
    }[args.format]
    text = render(record)
    if not _write_or_print(text, args.output):
        return EXIT_FAILED
    return EXIT_OK if record["journal"]["intact"] else EXIT_FAILED


def cmd_runs(args: argparse.Namespace) -> int:
    import textwrap

    from drconsole.engine import clocks
    from drconsole.runs.rundir import list_runs
    from drconsole.timeutil import format_duration, utcnow

    runs_dir = _runs_dir(args)
    runs = list_runs(runs_dir)
    if not runs:
        print(f"no runs in {runs_dir}")
        return EXIT_OK
    # one line per run within 80 columns: the run's name already says when and which plan
    print(f"runs in {runs_dir} (newest first; open one with: drconsole report {runs_dir}/RUN)")
    print(f"{'RUN (started UTC, plan)':<48} {'mode':<7} {'result':<10} {'RTO':>8}")
    for run in runs:
        state = run.state
        measured = clocks.measure(state, state.ended_at or utcnow())
        rto = (
            format_duration(measured.rto_elapsed) if "service_restored" in state.milestones else "-"
        )
        result = state.result.value if state.result else "unfinished"
        print(f"{run.path.name:<48} {state.mode:<7} {result:<10} {rto:>8}")
        if run.problem:
            print(textwrap.fill(run.problem, 80, initial_indent="  ! ", subsequent_indent="    "))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    import json
    import shutil

    from drconsole.report import history
    from drconsole.timeutil import TimeFormatError, parse_timestamp

    since = None
    if args.since:
        raw = args.since.strip()
        try:
            since = parse_timestamp(raw + "T00:00:00Z" if len(raw) == 10 else raw)
        except TimeFormatError:
            _err(f"--since {args.since!r}: write a date (2026-01-01) or a UTC time (...T06:00:00Z)")
            return EXIT_INVALID
    runs_dir = _runs_dir(args)
    found = history.history(runs_dir, args.plan, since)
    if args.plan and not found["plans"] and not found["schedule"]:
        _err(f"no runs of plan {args.plan!r} in {runs_dir}")
        return EXIT_FAILED
    if args.format == "json":
        text = json.dumps(found, indent=2, ensure_ascii=False)
    elif args.format == "html":
        text = history.to_html(found)
    else:  # read at a terminal, it fits it (the runs as short items, not a wide table)
        at_terminal = args.output is None and sys.stdout.isatty()
        text = history.to_markdown(
            found, shutil.get_terminal_size().columns if at_terminal else None
        )
    return EXIT_OK if _write_or_print(text, args.output) else EXIT_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    from drconsole.journal.files import describe_write_error
    from drconsole.report.pack import PackError, export

    run_dirs = [_run_dir(d) for d in args.run_dirs]
    if any(d is None for d in run_dirs):
        return EXIT_INVALID
    output = Path(args.output)
    try:
        digest = export([d for d in run_dirs if d is not None], output)
    except PackError as exc:
        _err(str(exc))
        return EXIT_INVALID
    except OSError as exc:
        _err(f"{describe_write_error(exc, output)}; nothing was written to {output}")
        return EXIT_FAILED
    print(output)
    print(f"manifest SHA-256: {digest} (keep it; check with: drconsole verify-pack {output} "
          f"--manifest-sha256 {digest})")  # fmt: skip
    return EXIT_OK


def cmd_verify_pack(args: argparse.Namespace) -> int:
    from drconsole.report.pack import PackError, check

    try:
        found = check(Path(args.pack), args.manifest_sha256)
    except PackError as exc:
        _err(str(exc))
        return EXIT_INVALID
    if not found.ok:
        for problem in found.problems:
            _err(f"{args.pack}: {problem}")
        _err(f"{args.pack}: REFUSED: {len(found.problems)} problem(s)")
        return EXIT_FAILED
    print(
        f"{args.pack}: intact: {found.files} files match the manifest, {found.runs} journals "
        f"verify; manifest SHA-256 {found.manifest_sha256}"
    )
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    from drconsole.sandbox import manager
    from drconsole.sandbox.paths import default_dir

    root = Path(args.dir) if args.dir else default_dir()
    try:
        if args.sandbox_command == "up":
            print(manager.up(root))
        elif args.sandbox_command == "down":
            print(manager.down(root))
        elif args.sandbox_command == "status":
            print(manager.status(root))
        elif args.sandbox_command == "env":
            print(manager.env(root, args.site))
        elif args.sandbox_command == "publish":
            print(manager.publish(root))
        elif args.sandbox_command == "snapshot":
            print(manager.snapshot(root, args.site))
        elif args.sandbox_command == "fail-primary":
            print(manager.fail_primary(root))
        elif args.sandbox_command == "lose-site":
            print(manager.lose_site(root))
        elif args.sandbox_command == "prepare-drill":
            print(manager.prepare_drill(root, _runs_dir(args)))
        elif args.sandbox_command == "reset":
            from drconsole.sandbox.reset import reset

            print(reset(root, _runs_dir(args)))
        elif args.sandbox_command in ("inject", "heal"):
            from drconsole.sandbox import faults

            if args.sandbox_command == "inject":
                print(faults.inject(root, args.fault, args.site, operator=args.operator,
                                    share=args.share))  # fmt: skip
            else:
                print(faults.heal(root, args.fault, args.site, operator=args.operator))
        elif args.sandbox_command == "hsm":
            print(manager.hsm(root, args.action, Path(args.file) if args.file else None))
        elif args.action == "start":
            print(manager.writer_start(root))
        else:
            print(manager.writer_stop(root))
    except manager.SandboxError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a service in a state no repair foresaw: no traceback
        _err(
            f"sandbox {args.sandbox_command} failed: {type(exc).__name__}: {exc}. "
            f"`drconsole sandbox status --dir {root}` shows what runs; `drconsole sandbox reset "
            f"--dir {root}` repairs what a drill left; if that fails too, recreate the sandbox: "
            f"sandbox down, delete {root}, sandbox up"
        )
        return EXIT_FAILED
    return EXIT_OK


def _default_targets() -> Path | None:
    import os

    explicit = os.environ.get("DRCONSOLE_TARGETS")
    if explicit:
        return Path(explicit)
    from drconsole.sandbox.paths import default_dir

    sandbox = default_dir() / "targets.yaml"
    return sandbox if sandbox.exists() else None


def _console(
    *,
    targets: str | None = None,
    runs_dir: str | None = None,
    operator: str | None = None,
    mode: str = "drill",
    plan_dirs: Sequence[str] = (),
    given_inputs: dict[str, str] | None = None,
    start_plan: Path | None = None,
    resume: Path | None = None,
) -> int:
    from drconsole.engine.modes import Mode
    from drconsole.runs.rundir import default_runs_dir
    from drconsole.tui.app import DrConsoleApp

    shipped = Path(__file__).resolve().parent.parent / "plans"
    dirs = [Path(d) for d in plan_dirs]
    for candidate in (Path("plans"), shipped):
        if candidate.is_dir() and candidate.resolve() not in {d.resolve() for d in dirs}:
            dirs.append(candidate)
    app = DrConsoleApp(
        plan_dirs=dirs,
        runs_dir=Path(runs_dir) if runs_dir else default_runs_dir(),
        targets_path=Path(targets) if targets else _default_targets(),
        operator_name=_who(operator),
        mode=Mode(mode),
        given_inputs=given_inputs,
        start_plan=start_plan,
        resume=resume,
    )
    app.run()
    return EXIT_OK


def cmd_console(args: argparse.Namespace) -> int:
    return _console(
        targets=args.targets,
        runs_dir=args.runs_dir,
        operator=args.operator,
        mode=args.mode,
        plan_dirs=args.plans,
    )


def cmd_watch(args: argparse.Namespace) -> int:
    from drconsole.runs.rundir import default_runs_dir

    run_dir = None
    if args.run_dir is not None:
        run_dir = _run_dir(args.run_dir)
        if run_dir is None:
            return EXIT_INVALID
    import os

    # a browser's page (drconsole serve) is a terminal too: textual-serve names its driver
    if not (sys.stdin.isatty() and sys.stdout.isatty()) and "TEXTUAL_DRIVER" not in os.environ:
        _err("drconsole watch needs a terminal; without one, read the run with: drconsole report")
        return EXIT_INVALID
    from drconsole.tui.watch_screen import WatchError, load_run_plan, watch

    if run_dir is not None:
        try:
            load_run_plan(run_dir)
        except WatchError as exc:
            _err(str(exc))
            return EXIT_INVALID
    runs_dir = Path(args.runs_dir) if args.runs_dir else None
    runs_dir = runs_dir or (run_dir.parent if run_dir else default_runs_dir())
    if "TEXTUAL_DRIVER" in os.environ:
        _end_with_parent()  # a browser tab's watcher ends with the server that started it
    watch(runs_dir, run_dir, poll=args.poll)
    return EXIT_OK


def _end_with_parent() -> None:
    """Exit when the process that started this one (``drconsole serve``) has gone: textual-serve
    leaves its apps running when the server stops."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watchdog, name="end-with-parent", daemon=True).start()


def cmd_serve(args: argparse.Namespace) -> int:
    from drconsole.serve import ServeError, serve

    runs_dir = _runs_dir(args)
    try:
        serve(args.host, args.port, runs_dir, Path(args.token_file) if args.token_file else None)
    except ServeError as exc:
        _err(str(exc))
        return EXIT_INVALID
    return EXIT_OK


def cmd_facilitate(args: argparse.Namespace) -> int:
    run_dir = _run_dir(args.run_dir)
    if run_dir is None:
        return EXIT_INVALID
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _err("drconsole facilitate needs a terminal; inject without one: drconsole sandbox inject")
        return EXIT_INVALID
    from drconsole.tui.facilitate_screen import FacilitateError, facilitate

    try:
        facilitate(run_dir, Path(args.dir) if args.dir else None, operator=args.operator)
    except FacilitateError as exc:
        _err(str(exc))
        return EXIT_INVALID
    return EXIT_OK
