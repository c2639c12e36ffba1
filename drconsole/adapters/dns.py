"""DNS through Route 53 (boto3): read a record, point it at another endpoint (keeping the
previous value for failback), and verify what it answers.

Targets ``dns`` section: ``zone`` (the hosted zone's name, e.g. ``qsign.example.``) or
``zone_id``, and what ``aws.boto_client`` reads (endpoint for the sandbox's moto server,
region, profile, key files). The record itself is named by the step, so one site describes the
zone and plans name ``api.qsign.example.``. The Route 53 client is the process's one for the
section (``aws.boto_client``): the failover's ``dns`` and ``check-dns`` share it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from drconsole.adapters.aws import aws_call, boto_client
from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    Cancelled,
    CheckFailed,
    Effect,
    Params,
    PermanentError,
    TransientError,
)

RecordType = Literal["A", "AAAA", "CNAME"]


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


class Dns:
    """One hosted zone."""

    def __init__(self, section: Mapping[str, Any], site_name: str | None = None) -> None:
        self.section = dict(section)
        self.site_name = site_name or "?"
        self._client: Any = None
        self._zone_id: str | None = self.section.get("zone_id")

    def client(self) -> Any:
        if self._client is None:
            self._client = boto_client("route53", self.section)
        return self._client

    def zone_id(self) -> str:
        if self._zone_id is None:
            zone = self.section.get("zone")
            if not zone:
                raise PermanentError(f"site {self.site_name}: dns needs zone or zone_id")
            found = aws_call(
                "find the hosted zone", self.client().list_hosted_zones_by_name, DNSName=zone
            )
            for z in found.get("HostedZones", []):
                if z["Name"] == _fqdn(zone):
                    self._zone_id = str(z["Id"]).split("/")[-1]
                    break
            else:
                raise PermanentError(f"no hosted zone {zone} (check dns.zone and the account)")
        return self._zone_id

    def get(self, name: str, rtype: str) -> dict[str, Any]:
        name = _fqdn(name)
        page = aws_call(
            f"read {name}",
            self.client().list_resource_record_sets,
            HostedZoneId=self.zone_id(),
            StartRecordName=name,
            StartRecordType=rtype,
            MaxItems="1",
        )
        for rr in page.get("ResourceRecordSets", []):
            if rr["Name"] == name and rr["Type"] == rtype:
                values = [r["Value"] for r in rr.get("ResourceRecords", [])]
                return {"name": name, "type": rtype, "values": values, "ttl": rr.get("TTL")}
        return {"name": name, "type": rtype, "values": [], "ttl": None}

    def point(
        self, name: str, rtype: str, value: str, ttl: int, wait_s: float, ctx: ActionContext
    ) -> dict[str, Any]:
        before = self.get(name, rtype)
        change = aws_call(
            f"update {name}",
            self.client().change_resource_record_sets,
            HostedZoneId=self.zone_id(),
            ChangeBatch={
                "Comment": "drconsole",
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": _fqdn(name),
                            "Type": rtype,
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": value}],
                        },
                    }
                ],
            },
        )["ChangeInfo"]
        ctx.log(f"{name} {rtype}: {before['values'] or '(none)'} -> {value} ({change['Status']})")
        start = time.monotonic()
        status = change["Status"]
        while status != "INSYNC":
            if time.monotonic() - start > wait_s:
                raise TransientError(f"the change to {name} is still {status} after {wait_s:g} s")
            if ctx.cancel.wait(1.0):
                raise Cancelled("waiting for the DNS change was cancelled")
            status = aws_call("read the change", self.client().get_change, Id=change["Id"])[
                "ChangeInfo"
            ]["Status"]
        now = self.get(name, rtype)
        if now["values"] != [value]:
            raise CheckFailed(f"{name} answers {now['values']}, not {value}", evidence=now)
        return {
            "previous": before["values"][0] if before["values"] else None,
            "value": value,
            "status": status,
            "waited_s": round(time.monotonic() - start, 3),
        }

    def verify(self, name: str, rtype: str, expect: str) -> dict[str, Any]:
        found = self.get(name, rtype)
        if found["values"] != [expect]:
            raise CheckFailed(
                f"{found['name']} {rtype} is {found['values'] or 'missing'}, expected {expect}",
                evidence=found,
            )
        return {**found, "value": expect}


class RecordParams(Params):
    name: str = Field(description="The record, e.g. api.qsign.example.")
    type: RecordType = "CNAME"


class PointParams(RecordParams):
    value: str = Field(description="The new value: the endpoint to send traffic to.")
    ttl: int = Field(60, ge=1, le=86400)
    wait_s: float = Field(120, gt=0, description="How long to wait for the change to be INSYNC.")


class VerifyParams(RecordParams):
    expect: str


def _d(ctx: ActionContext) -> Dns:
    return Dns(ctx.site.get("dns") or {}, ctx.site_name)


ACTIONS = [
    ActionSpec(
        name="dns.get",
        summary="A record's current values.",
        params=RecordParams,
        outputs={"name": "", "type": "", "values": "its values", "ttl": "its TTL"},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _d(c).get(p.name, p.type),
        describe=lambda p: f"read {p.name} {p.type}",
        needs_site=True,
    ),
    ActionSpec(
        name="dns.point",
        summary="Point a record at a value (UPSERT), wait until INSYNC, read it back; the "
        "previous value is an output, for failback.",
        params=PointParams,
        outputs={
            "previous": "the value before (null when there was none)",
            "value": "the value now",
            "status": "the change's status",
            "waited_s": "seconds until INSYNC",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _d(c).point(p.name, p.type, p.value, p.ttl, p.wait_s, c),
        describe=lambda p: f"point {p.name} {p.type} at {p.value} (TTL {p.ttl} s)",
        needs_site=True,
    ),
    ActionSpec(
        name="dns.verify",
        summary="A record answers exactly the expected value.",
        params=VerifyParams,
        outputs={"name": "", "type": "", "values": "", "ttl": "", "value": "the expected value"},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _d(c).verify(p.name, p.type, p.expect),
        describe=lambda p: f"{p.name} {p.type} must be {p.expect}",
        needs_site=True,
    ),
]
