"""DNS through Route 53 against a real moto server: read, point (keeping the previous value
for failback), verify, and what happens with a wrong zone or a record that differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from drconsole.adapters.base import ActionContext, CheckFailed, PermanentError
from drconsole.adapters.dns import Dns
from drconsole.sandbox import dns as sandbox_dns
from drconsole.sandbox.s3 import MotoServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _zone(moto: MotoServer) -> None:
    """The sandbox's hosted zone on this module's moto server (conftest's ``moto``)."""
    sandbox_dns.ensure_zone(moto)


def test_point_keeps_the_previous_value_and_failback_restores_it(moto: MotoServer) -> None:
    zone = Dns(sandbox_dns.section(moto), "dr")
    record = sandbox_dns.RECORD
    assert zone.get(record, "CNAME")["values"] == [sandbox_dns.ENDPOINTS["primary"]]
    over = zone.point(record, "CNAME", sandbox_dns.ENDPOINTS["dr"], 60, 30, ActionContext())
    assert over["previous"] == sandbox_dns.ENDPOINTS["primary"]
    assert over["status"] == "INSYNC"
    assert zone.verify(record, "CNAME", sandbox_dns.ENDPOINTS["dr"])["values"] == [
        sandbox_dns.ENDPOINTS["dr"]
    ]
    back = zone.point(record, "CNAME", over["previous"], 60, 30, ActionContext())
    assert back["previous"] == sandbox_dns.ENDPOINTS["dr"]
    assert zone.get(record, "CNAME")["values"] == [sandbox_dns.ENDPOINTS["primary"]]


def test_verify_names_what_the_record_answers(moto: MotoServer) -> None:
    zone = Dns(sandbox_dns.section(moto), "dr")
    with pytest.raises(CheckFailed, match="expected somewhere.else."):
        zone.verify(sandbox_dns.RECORD, "CNAME", "somewhere.else.")
    with pytest.raises(CheckFailed, match="missing"):
        zone.verify("nothing.qsign.example.", "CNAME", "x.")


def test_an_unknown_zone_is_refused_with_its_name(moto: MotoServer, tmp_path: Path) -> None:
    zone = Dns({**sandbox_dns.section(moto), "zone": "other.example."}, "dr")
    with pytest.raises(PermanentError, match="no hosted zone other.example."):
        zone.get(sandbox_dns.RECORD, "CNAME")
