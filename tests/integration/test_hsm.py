"""HSM checks over PKCS#11 on SoftHSM2 (practice tokens in a temporary directory), and the three
HSM ceremony plans run through: the quarterly test restore with a real (practice) restore, a
checksum mismatch that stops a restore, and a backup ceremony with no network at all."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import ActionContext, CheckFailed, PermanentError
from drconsole.adapters.hsm import HsmAdapter
from drconsole.engine.answers import AnswersFile, AnswersOperator
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.engine.operator import Question
from drconsole.report.record import build_record
from drconsole.sandbox import softhsm

pytestmark = pytest.mark.slow  # a real SoftHSM2 token
PLANS = Path(__file__).resolve().parents[2] / "plans"
ZERO_KEY_KCV = "DC95C0"  # AES-256, all-zero key: FIPS-197 known answer dc95c078...


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[softhsm.PracticeHsm]:
    root = tmp_path_factory.mktemp("hsm")
    yield softhsm.create(root, master_key=bytes(32))
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def targets(practice: softhsm.PracticeHsm, tmp_path: Path) -> Path:
    path = tmp_path / "targets.yaml"
    sites = {
        "hsm": {"drill": True, "hsm": practice.site(softhsm.PROD_TOKEN)},
        "dev-hsm": {"drill": True, "hsm": practice.site(softhsm.DEV_TOKEN)},
    }
    path.write_text(yaml.safe_dump({"sites": sites}))
    return path


def adapter(practice: softhsm.PracticeHsm, token: str, **changes: Any) -> HsmAdapter:
    return HsmAdapter({**practice.site(token), **changes}, token)


# ----------------------------------------------------------------------------- the adapter
def test_key_check_value_and_identity(practice: softhsm.PracticeHsm) -> None:
    prod = adapter(practice, softhsm.PROD_TOKEN)
    ctx = ActionContext()
    found = prod.key_check(ctx, softhsm.MASTER_KEY, ZERO_KEY_KCV.lower())
    assert found | {"label": None} == {
        "present": True, "label": None, "key_type": "AES", "bits": 256,
        "kcv": ZERO_KEY_KCV, "matches": True,
    }  # fmt: skip
    info = prod.token_info(ctx)
    assert info["label"] == softhsm.PROD_TOKEN
    assert info["model"] == "SoftHSM v2"
    counts = prod.count_objects(ctx)
    assert counts["secret_keys"] == counts["total"] == 2


@pytest.mark.parametrize(
    ("label", "expect_kcv", "present", "words"),
    [
        (softhsm.MASTER_KEY, "ABCDEF", True, "expected ABCDEF"),
        ("no-such-key", None, True, "no secret key labelled 'no-such-key'"),
        (softhsm.MASTER_KEY, None, False, "is still on the token"),
    ],
)
def test_key_check_failures_say_what_is_wrong(
    practice: softhsm.PracticeHsm, label: str, expect_kcv: str | None, present: bool, words: str
) -> None:
    with pytest.raises(CheckFailed, match=words):
        adapter(practice, softhsm.PROD_TOKEN).key_check(ActionContext(), label, expect_kcv, present)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"token_label": "nope"}, "no HSM token 'nope'.*tokens: qsign-dev, qsign-prod-practice"),
        ({"module": "/nonexistent/libpkcs11.so"}, "cannot load the PKCS#11 module"),
        ({"pin_file": "/nonexistent/pin"}, "HSM PIN: cannot read secret file"),
    ],
)
def test_bad_settings_get_clear_messages(
    practice: softhsm.PracticeHsm, changes: dict[str, Any], words: str
) -> None:
    with pytest.raises(PermanentError, match=words):
        adapter(practice, softhsm.PROD_TOKEN, **changes).count_objects(ActionContext())


def test_a_wrong_pin_is_refused_and_never_shown(
    practice: softhsm.PracticeHsm, tmp_path: Path
) -> None:
    wrong = tmp_path / "pin"
    wrong.write_text("99999999\n")
    with pytest.raises(PermanentError, match="refused the PIN") as caught:
        adapter(practice, softhsm.DEV_TOKEN, pin_file=str(wrong)).count_objects(ActionContext())
    assert "99999999" not in str(caught.value)


# ----------------------------------------------------------------------------- the plans
PEOPLE = [
    {"name": "Kim Min", "role": "administrator", "affiliation": "Ops", "initials": "KM"},
    {"name": "Lee Ji", "role": "witness", "affiliation": "Audit", "initials": "LJ"},
    {"name": "Park Su", "role": "crypto_officer", "affiliation": "Sec", "initials": "PS",
     "holds": ["card-1"]},
    {"name": "Choi Ha", "role": "crypto_officer", "affiliation": "Sec", "initials": "CH",
     "holds": ["card-2"]},
    {"name": "Jung Ra", "role": "security_officer", "affiliation": "Sec", "initials": "JR"},
    {"name": "Yoon Bo", "role": "cto", "affiliation": "Exec", "initials": "YB"},
]  # fmt: skip
CARDS = {"quorum": [{"initials": "PS", "token": "card-1"}, {"initials": "CH", "token": "card-2"}]}
APPROVALS = {
    "signoffs": [
        {"name": "Jung Ra", "role": "security_officer"},
        {"name": "Yoon Bo", "role": "cto"},
    ]
}


def base_answers(steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "operator": "Kim Min",
        "participants": PEOPLE,
        "initials": {"actor": "KM", "witness": "LJ"},
        "attestations": {p["initials"]: {"agree": True} for p in PEOPLE},
        "steps": steps,
    }


# no previous record saw the bags sealed: opening one is an exception, decided so
FIRST = {"decision": "first ceremony: bag sealed at delivery, photographed"}
QUARTERLY_STEPS: dict[str, Any] = {
    "room": {"confirm": True},
    "approve": APPROVALS,
    "open-copy": {"evidence": {"bag_id": "TEB-100", "intact": "yes"}, "exception": FIRST},
    "copy-to-laptop": {"confirm": True},
    "cards": CARDS,
    "decrypt": {"confirm": True},
    "vendor-restore": {"typed": "restore onto dev-hsm", "confirm": True},
    "shred": {"confirm": True},
    "clear-dev": {"typed": "clear dev-hsm", "confirm": True},
    "reseal-copy": {"evidence": {"bag_id": "TEB-101"}},
    "seal-cards": {"evidence": {"bag_id": "TEB-102"}},
    "result": {"evidence": {"choice": "passed: key present, check value matches"}},
}


class OfficerAtTheHsm(AnswersOperator):
    """Answers from the file, and does what the vendor commands would do when the officers
    confirm them: the practice restore and the clearing of the development token."""

    def __init__(self, answers: AnswersFile, practice: softhsm.PracticeHsm, backup: Path) -> None:
        super().__init__(answers)
        self.practice = practice
        self.backup = backup

    async def confirm(self, q: Question, prompt: str) -> bool:
        done = await super().confirm(q, prompt)
        if done and q.step_id == "vendor-restore":
            softhsm.practice_restore(self.practice, self.backup)
        if done and q.step_id == "clear-dev":
            softhsm.practice_clear(self.practice)
        return done


def run_quarterly(
    practice: softhsm.PracticeHsm, targets: Path, tmp_path: Path, backup: Path
) -> dict[str, Any]:
    operator = OfficerAtTheHsm(
        AnswersFile.model_validate(base_answers(QUARTERLY_STEPS)), practice, backup
    )

    async def go() -> dict[str, Any]:
        prepared = prepare_new(
            PLANS / "hsm-quarterly-test-restore.yaml",
            runs_dir=tmp_path / "runs",
            operator=operator,
            mode=Mode.DRILL,
            given_inputs={"backup_file": str(backup), "expected_kcv": ZERO_KEY_KCV},
            targets_path=targets,
        )
        await prepared.engine.run()
        return build_record(prepared.run_dir)

    return asyncio.run(go())


def test_quarterly_test_restore_restores_and_clears_the_development_hsm(
    practice: softhsm.PracticeHsm, targets: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "hsm-backup.enc"
    softhsm.practice_backup(practice, backup)
    record = run_quarterly(practice, targets, tmp_path, backup)
    assert record["result"] == "succeeded", record["result_reason"]
    steps = {s["id"]: s for s in record["steps"]}
    assert steps["dev-empty"]["recorded"]["present"] is False
    assert steps["key-restored"]["recorded"]["kcv"] == ZERO_KEY_KCV
    assert steps["dev-cleared"]["status"] == "succeeded"
    assert steps["vendor-restore"]["actor"] == "KM"
    assert steps["vendor-restore"]["witness"] == "LJ"
    assert any(a["sha256"] and a["step"] == "checksum" for a in record["artefacts"])


def test_a_checksum_mismatch_stops_the_restore_before_anything_is_decrypted(
    practice: softhsm.PracticeHsm, targets: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "hsm-backup.enc"
    softhsm.practice_backup(practice, backup)
    data = bytearray(backup.read_bytes())
    data[5] ^= 0x01
    backup.write_bytes(bytes(data))
    record = run_quarterly(practice, targets, tmp_path, backup)
    steps = {s["id"]: s for s in record["steps"]}
    assert record["result"] == "failed"
    assert steps["checksum"]["status"] == "failed"
    assert "the file is not the one that was checksummed" in steps["checksum"]["error"]
    for later in ("cards", "decrypt", "vendor-restore"):
        assert steps[later]["status"] == "pending", later


NETWORK_MODULES = ("psycopg", "hvac", "boto3", "botocore", "kubernetes", "urllib3", "requests")

_NO_NETWORK_RUNNER = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network is unavailable in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from drconsole.cli import main
code = main(sys.argv[1:])
loaded = [m for m in {modules!r} if m in sys.modules]
print("NETWORK-MODULES:", ",".join(loaded) or "none")
sys.exit(code)
"""


def test_a_backup_ceremony_runs_with_no_network(
    practice: softhsm.PracticeHsm, targets: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "hsm-backup.enc"
    softhsm.practice_backup(practice, backup)  # what the encrypt and checksum steps produce
    digest = Path(f"{backup}.sha256").read_text().split()[0]
    steps: dict[str, Any] = {
        "room": {"confirm": True},
        # the first ceremony: no previous record saw these bags sealed (an exception each)
        "open-laptop": {"evidence": {"bag_id": "TEB-1", "intact": "yes"}, "exception": FIRST},
        "hsm-serial": {"evidence": {"serial": "__SERIAL__"}},
        "approve": APPROVALS,
        "open-cards": {"evidence": {"bag_id": "TEB-2", "intact": "yes"}, "exception": FIRST},
        "cards": CARDS,
        **{s: {"confirm": True} for s in
           ("vendor-backup", "encrypt", "checksum-file", "copy-usb", "shred")},
        "checksum-read-back": {"evidence": {"sha256_ends": f"{digest[:4]}...{digest[-4:]}"}},
        "seal-usb-a": {"evidence": {"bag_id": "TEB-3"}},
        "seal-usb-b": {"evidence": {"bag_id": "TEB-4"}},
        "seal-tape": {"evidence": {"bag_id": "TEB-5"}},
        "seal-cards": {"evidence": {"bag_id": "TEB-6"}},
        "seal-laptop": {"evidence": {"bag_id": "TEB-7"}},
        "transport": {"evidence": {"choice": "escorted now: USB A to the site A vault, USB B to "
                                             "the site B vault, tape to offsite"}},
    }  # fmt: skip
    serial = adapter(practice, softhsm.PROD_TOKEN).token_info(ActionContext())["serial"]
    steps["hsm-serial"]["evidence"]["serial"] = serial
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(base_answers(steps)))
    command = [
        sys.executable, "-c", _NO_NETWORK_RUNNER.format(modules=NETWORK_MODULES),
        "run", str(PLANS / "hsm-key-backup-ceremony.yaml"), "--headless", "--mode", "drill",
        "--runs-dir", str(tmp_path / "runs"), "--targets", str(targets),
        "--answers", str(answers), "--input", f"backup_file={backup}",
    ]  # fmt: skip
    if shutil.which("unshare") and os.geteuid() == 0:
        command = ["unshare", "--net", *command]  # a network namespace with no interfaces
    env = {**os.environ, "PYTHONPATH": str(PLANS.parent)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NETWORK-MODULES: none" in done.stdout
    run_dir = Path(done.stdout.splitlines()[0])
    record = build_record(run_dir)
    assert [(e["step"], e["decision"]) for e in record["exceptions"]] == [
        ("open-laptop", FIRST["decision"]),
        ("open-cards", FIRST["decision"]),
    ]
    assert [b["bag_id"] for b in record["bags"]] == [f"TEB-{i}" for i in range(1, 8)]


def test_a_second_practice_restore_is_refused_and_leaves_one_key(
    practice: softhsm.PracticeHsm, tmp_path: Path
) -> None:
    """Before, a second `sandbox hsm restore` added a second key of the same label, and every
    later check of the development token failed as ambiguous ('more than one secret key')."""
    backup = tmp_path / "master.bak"
    softhsm.practice_backup(practice, backup)
    softhsm.practice_clear(practice)
    softhsm.practice_restore(practice, backup)
    with pytest.raises(softhsm.AlreadyHeld, match="clear it first"):
        softhsm.practice_restore(practice, backup)
    assert softhsm.practice_clear(practice) == 1
