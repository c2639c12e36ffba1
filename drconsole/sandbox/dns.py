"""The sandbox's DNS: a Route 53 hosted zone ``qsign.example.`` in the moto server, with
``api.qsign.example.`` pointing at the primary site's endpoint. moto keeps it in memory: each
start of the moto server makes it again.
"""

from __future__ import annotations

from typing import Any

from drconsole.adapters.aws import boto_client
from drconsole.sandbox.s3 import MotoServer

ZONE = "qsign.example."
RECORD = "api.qsign.example."
ENDPOINTS = {"primary": "api.primary.qsign.example.", "dr": "api.dr.qsign.example."}


def section(server: MotoServer) -> dict[str, Any]:
    """A site's ``dns`` section."""
    s3 = server.section()
    return {
        "zone": ZONE,
        "endpoint": s3["endpoint"],
        "region": "us-east-1",
        "access_key_file": s3["access_key_file"],
        "secret_key_file": s3["secret_key_file"],
    }


def ensure_zone(server: MotoServer) -> None:
    """Create the zone when missing; point the API record at the primary."""
    client = boto_client("route53", section(server))
    zones = client.list_hosted_zones_by_name(DNSName=ZONE).get("HostedZones", [])
    found = [z["Id"] for z in zones if z["Name"] == ZONE]
    zone_id = (
        found[0]
        if found
        else client.create_hosted_zone(Name=ZONE, CallerReference="drconsole-sandbox")[
            "HostedZone"
        ]["Id"]
    )
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": RECORD,
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": ENDPOINTS["primary"]}],
                    },
                }
            ]
        },
    )
