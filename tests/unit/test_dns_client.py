"""One Route 53 client serves every DNS step of a process that names the same section (making
one reads botocore's data files, 0.05-0.13 s a time); a rotated key file or another endpoint
gets a client of its own. No request is sent: making a client contacts nothing."""

from __future__ import annotations

import os
from pathlib import Path

from drconsole.adapters.dns import Dns


def test_steps_naming_the_same_section_share_one_client(tmp_path: Path) -> None:
    access, secret = tmp_path / "access", tmp_path / "secret"
    access.write_text("PRACTICE-ONLY-access\n")
    secret.write_text("PRACTICE-ONLY-secret\n")
    section = {
        "zone": "qsign.example.",
        "endpoint": "http://127.0.0.1:9",
        "region": "us-east-1",
        "access_key_file": str(access),
        "secret_key_file": str(secret),
    }
    first = Dns(section, "dr").client()
    assert Dns(dict(section), "dr").client() is first
    assert Dns({**section, "endpoint": "http://127.0.0.1:10"}, "dr").client() is not first
    secret.write_text("PRACTICE-ONLY-rotated\n")
    os.utime(secret, ns=(1, 1))  # a rotated key: its file changed
    rotated = Dns(section, "dr").client()
    assert rotated is not first
    assert rotated.meta.endpoint_url == "http://127.0.0.1:9"
