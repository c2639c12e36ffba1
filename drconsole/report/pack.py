"""The audit pack: run directories, their reports and their journals' verification in one zip,
with a manifest of the SHA-256 of every file, checked offline by ``drconsole verify-pack``.

Layout of the zip:
- ``runs/NAME/...``: each run directory as it is (journal, head, plan copy, targets copy,
  artefacts; not the driver's lock file, which only says who holds the run now);
- ``reports/NAME/report.md``, ``report.html``, ``report.json``;
- ``verification.json``: per run, whether its journal verified, its events and final hash;
- ``manifest.json``: the SHA-256 and size of every other file.

``verify-pack`` recomputes every file's SHA-256 against the manifest (naming each file that
changed, is missing or was added), verifies every journal inside the pack again, and holds its
final hash against ``verification.json``. The manifest itself is only as trustworthy as where it
came from: ``export`` prints the manifest's own SHA-256, to be written down where the auditor
keeps it (``verify-pack --manifest-sha256``), since whoever can rewrite the pack can rewrite the
manifest too.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from drconsole.journal.files import write_private
from drconsole.journal.journal import GENESIS, HEAD, JOURNAL, VerifyReport, verify_bytes
from drconsole.report.build import build, to_markdown
from drconsole.report.html_report import to_html
from drconsole.runs.index import Snapshot
from drconsole.runs.read import read_run

MANIFEST = "manifest.json"
VERIFICATION = "verification.json"
LEFT_OUT = {"driver.lock"}
_STAMP = (2000, 1, 1, 0, 0, 0)  # one date for every member: the same runs make the same zip


class PackError(Exception):
    """The pack cannot be made or read; the message says which file and why."""


@dataclass
class PackCheck:
    """What ``verify-pack`` found: every problem names its file."""

    files: int = 0
    runs: int = 0
    problems: list[str] = field(default_factory=list)
    manifest_sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export(run_dirs: list[Path], output: Path) -> str:
    """Write the pack to ``output`` (atomically); return the manifest's SHA-256. Each journal
    is read once: the bytes packed are the bytes verified and reported on, even while the run
    is still writing to it.

    Raises:
        PackError: two runs share a name; a file cannot be read.
        OSError: the pack cannot be written (``output`` is as it was).
    """
    members: dict[str, bytes] = {}
    verification: dict[str, Any] = {}
    for run_dir in run_dirs:
        name = run_dir.resolve().name
        if f"runs/{name}/{JOURNAL}" in members:
            raise PackError(f"two run directories are named {name}; export them separately")
        try:
            snap = Snapshot.read(run_dir)
        except OSError as exc:
            raise PackError(f"cannot read {run_dir / JOURNAL}: {exc.strerror or exc}") from None
        verified = {JOURNAL: snap.data, HEAD: snap.head}  # no head file: None, none packed
        for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()):
            relative = path.relative_to(run_dir).as_posix()
            if path.name in LEFT_OUT or relative in verified:
                continue
            try:
                members[f"runs/{name}/{relative}"] = path.read_bytes()
            except OSError as exc:
                raise PackError(f"cannot read {path}: {exc.strerror or exc}") from None
        members.update({f"runs/{name}/{k}": v for k, v in verified.items() if v is not None})
        run = read_run(run_dir, snap)
        report = build(run)
        members[f"reports/{name}/report.md"] = (to_markdown(report) + "\n").encode()
        members[f"reports/{name}/report.html"] = (to_html(run, report) + "\n").encode()
        members[f"reports/{name}/report.json"] = _json(report)
        check = run.check
        verification[name] = {
            "run_id": report["run_id"],
            "plan": report["plan"].get("id"),
            "verified": check.ok,
            "events": check.count,
            "final_hash": check.final_hash,
            "problem": None if check.ok else check.describe(),
        }
    members[VERIFICATION] = _json(verification)
    manifest = {
        "format": "drconsole audit pack 1",
        "algorithm": "sha256",
        "files": {k: {"sha256": _sha(v), "size": len(v)} for k, v in sorted(members.items())},
    }
    members[MANIFEST] = _json(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
        for name, data in sorted(members.items()):
            info = zipfile.ZipInfo(name, _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            pack.writestr(info, data)
    write_private(output, buffer.getvalue())
    return _sha(members[MANIFEST])


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def check(path: Path, manifest_sha256: str | None = None) -> PackCheck:
    """Check a pack offline: every file against the manifest, every journal again.

    Raises:
        PackError: it is not a zip, or has no readable manifest.
    """
    try:
        with zipfile.ZipFile(path) as pack:
            contents = {i.filename: pack.read(i) for i in pack.infolist() if not i.is_dir()}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise PackError(f"{path} is not a readable zip file: {exc}") from None
    if MANIFEST not in contents:
        raise PackError(f"{path} has no {MANIFEST}: it is not a drconsole audit pack")
    try:
        listed = json.loads(contents[MANIFEST])["files"]
        assert isinstance(listed, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise PackError(f"{path}: {MANIFEST} is not readable JSON with a 'files' list") from None
    found = PackCheck(manifest_sha256=_sha(contents[MANIFEST]))
    if manifest_sha256 and manifest_sha256.lower() != found.manifest_sha256:
        found.problems.append(
            f"{MANIFEST}: its SHA-256 is {found.manifest_sha256}, not the {manifest_sha256} "
            "recorded at export: the manifest was replaced"
        )
    for name, entry in sorted(listed.items()):
        data = contents.get(name)
        if data is None:
            found.problems.append(f"{name}: missing from the pack")
        elif _sha(data) != (entry or {}).get("sha256"):
            found.problems.append(f"{name}: changed (its SHA-256 does not match the manifest)")
        else:
            found.files += 1
    found.problems += [
        f"{name}: not in the manifest (added after export)"
        for name in sorted(contents.keys() - listed.keys() - {MANIFEST})
    ]
    _journals(contents, found)
    return found


def _journals(contents: dict[str, bytes], found: PackCheck) -> None:
    """Verify each journal in the pack again and hold it against ``verification.json``."""
    try:
        recorded = json.loads(contents.get(VERIFICATION, b"{}"))
    except ValueError:
        recorded = {}
    runs = sorted(
        {PurePosixPath(n).parts[1] for n in contents if n.startswith("runs/") and n.count("/") >= 2}
    )
    for name in runs:
        journal = contents.get(f"runs/{name}/journal.jsonl")
        if journal is None:
            result = VerifyReport(False, 0, GENESIS, 1, f"no {JOURNAL} in the pack")
        else:
            result = verify_bytes(journal, contents.get(f"runs/{name}/journal.head"))
        found.runs += 1
        said = recorded.get(name) if isinstance(recorded, dict) else None
        where = f"runs/{name}/journal.jsonl"
        if not result.ok:
            known = isinstance(said, dict) and said.get("problem") == result.describe()
            found.problems.append(
                f"{where}: does not verify{', as recorded at export' if known else ''}: "
                f"{result.describe()}"
            )
        elif not isinstance(said, dict) or said.get("final_hash") != result.final_hash:
            found.problems.append(
                f"{where}: its final hash {result.final_hash} is not the one in {VERIFICATION}"
            )
