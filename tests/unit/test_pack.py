"""Audit packs: two runs exported with their reports, verification and manifest, checked
offline; one byte changed anywhere is refused naming the file; a replaced manifest is caught by
the hash export printed."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Cli
from tests.unit.test_cli_report import hello_run


def _rewrite(pack: Path, name: str, change: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(pack) as old:
        members = {i.filename: old.read(i) for i in old.infolist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(pack, "w") as new:
        for member, data in members.items():
            new.writestr(member, data)


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


def test_an_audit_pack_verifies_and_names_the_file_that_changed(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    first = hello_run(cli, tmp_path, backup_file)
    second = hello_run(cli, tmp_path, backup_file)
    pack = tmp_path / "pack.zip"
    made = cli("export", first, second, "--output", pack)
    assert made.code == 0, made.err
    digest = made.out.split("manifest SHA-256: ")[1].split()[0]
    with zipfile.ZipFile(pack) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        verification = json.loads(z.read("verification.json"))
    for run in (first, second):
        for part in ("report.md", "report.html", "report.json"):
            assert f"reports/{run.name}/{part}" in names
        assert f"runs/{run.name}/journal.jsonl" in names
        assert f"runs/{run.name}/driver.lock" not in names
        assert verification[run.name]["verified"] is True
    assert set(manifest["files"]) == names - {"manifest.json"}
    ok = cli("verify-pack", pack, "--manifest-sha256", digest)
    assert ok.code == 0
    assert "intact: " in ok.out
    assert "2 journals verify" in ok.out

    for name in (f"runs/{first.name}/journal.jsonl", f"reports/{second.name}/report.html"):
        changed = tmp_path / "changed.zip"
        changed.write_bytes(pack.read_bytes())
        _rewrite(changed, name, _flip)
        refused = cli("verify-pack", changed)
        assert refused.code == 1
        assert f"{name}: changed" in refused.err
        assert "REFUSED" in refused.err

    # a forger who also rewrites the manifest: caught by the hash export printed
    forged = tmp_path / "forged.zip"
    forged.write_bytes(pack.read_bytes())
    _rewrite(forged, "manifest.json", lambda d: d.replace(b'"sha256"', b'"sha256" ', 1))
    result = cli("verify-pack", forged, "--manifest-sha256", digest)
    assert result.code == 1
    assert "the manifest was replaced" in result.err


def test_export_and_verify_pack_say_what_is_wrong_with_their_input(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli("export", tmp_path, "--output", tmp_path / "p.zip")
    assert result.code == 2
    assert "is not a run directory" in result.err
    (tmp_path / "junk.zip").write_text("not a zip")
    result = cli("verify-pack", tmp_path / "junk.zip")
    assert result.code == 2
    assert "not a readable zip file" in result.err
