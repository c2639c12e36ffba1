"""Object storage (S3 API) through boto3: list backups, verify objects by streaming SHA-256,
freshness against the RPO, size anomalies, expected daily backups, bucket protection, upload
and download with checksums.

Targets ``s3`` section: bucket, endpoint (for S3-compatible stores), region, profile, and
optionally access_key_file and secret_key_file; otherwise the usual AWS_* variables and
profiles apply. botocore's own retries are off: the engine retries, visibly, in one place.
The client is the process's one for the section (``aws.boto_client``), shared by every step
and by the parallel checks of ``s3.verify_all``.

Every error about an object names it as ``object s3://BUCKET/KEY`` and says in words what went
wrong: a body that does not match its checksum (botocore checks the stored one as it reads), a
connection that closed part-way (N of M bytes), a body that stopped coming.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from drconsole.timeutil import TimeFormatError, format_timestamp, parse_timestamp, utcnow

CHUNK = 1 << 20
PARALLEL = 32  # the most objects verified at the same time, each on a connection of its own
# the checksum headers S3 may send with a body, and their names in words
_CHECKSUMS = {
    "ChecksumSHA256": "SHA-256",
    "ChecksumSHA1": "SHA-1",
    "ChecksumCRC32": "CRC32",
    "ChecksumCRC32C": "CRC32C",
    "ChecksumCRC64NVME": "CRC64NVME",
}


class ObjectStore:
    """One bucket described by a targets ``s3`` section."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        if not section or not section.get("bucket"):
            raise PermanentError("the site has no s3 section (with bucket) in the targets file")
        self.section = dict(section)
        self.bucket = str(section["bucket"])
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            self._client = boto_client("s3", self.section, connections=PARALLEL)
        return self._client

    def where(self, key: str) -> str:
        return f"object s3://{self.bucket}/{key}"

    def _get(self, key: str, version_id: str | None = None) -> Any:
        """A get_object answer whose headers carry the stored checksum (and botocore checks the
        body against it as it is read, unless it is a checksum of part checksums)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            kwargs["VersionId"] = version_id
        return aws_call(self.where(key), self.client().get_object, **kwargs)

    def _body(self, key: str, response: Mapping[str, Any], cancel: Any = None) -> Iterator[bytes]:
        """The body of a get_object answer in chunks; a broken transfer says which object and
        how far it got (in bytes this adapter received), a damaged body which checksum."""
        from botocore.exceptions import (
            BotoCoreError,
            FlexibleChecksumError,
            IncompleteReadError,
            ReadTimeoutError,
        )

        where, got = self.where(key), 0
        of = f" of {response['ContentLength']}" if response.get("ContentLength") is not None else ""
        try:
            for chunk in response["Body"].iter_chunks(CHUNK):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"reading {where} was cancelled")
                got += len(chunk)
                yield chunk
        except FlexibleChecksumError:
            algorithm = next((n for h, n in _CHECKSUMS.items() if response.get(h)), "stored")
            raise CheckFailed(
                f"{where}: the body does not match its {algorithm} checksum",
                evidence={"key": key, "version_id": response.get("VersionId")},
                hint="do not restore it; verify it again: a damaged transfer passes the next "
                "time, a damaged object fails again",
            ) from None
        except IncompleteReadError as exc:
            read, expected = exc.kwargs["actual_bytes"], exc.kwargs["expected_bytes"]
            raise TransientError(
                f"{where}: the connection closed after {read} of {expected} bytes"
            ) from None
        except ReadTimeoutError:
            raise TransientError(
                f"{where}: the body stopped after {got}{of} bytes",
                hint="nothing more came within the read timeout (read_timeout in the site's "
                "s3 section)",
            ) from None
        except (BotoCoreError, OSError, ValueError) as exc:
            raise TransientError(
                f"{where}: reading failed after {got}{of} bytes ({type(exc).__name__}: {exc})"
            ) from None

    # ----------------------------------------------------------------- listing
    def _listing(self, prefix: str) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Each listing page's entries under a prefix (sidecars too), and whether more pages
        follow; a page is let go before the next is read, so a walk over them holds one page
        whatever the count."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = aws_call(
                f"list s3://{self.bucket}/{prefix}", self.client().list_objects_v2, **kwargs
            )
            items: list[dict[str, Any]] = page.get("Contents", [])
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            del page
            yield items, token is not None
            del items
            if token is None:
                return

    def _pages(self, prefix: str) -> Iterator[list[dict[str, Any]]]:
        """Each listing page's current objects under a prefix (not sidecars)."""
        for items, _ in self._listing(prefix):
            yield [i for i in items if not i["Key"].endswith(".sha256")]

    def objects(self, prefix: str) -> list[dict[str, Any]]:
        """Current objects under a prefix (not sidecars), oldest first."""
        found = [
            {
                "key": item["Key"],
                "size": int(item["Size"]),
                "time": format_timestamp(item["LastModified"]),
                "_dt": item["LastModified"],
            }
            for items in self._pages(prefix)
            for item in items
        ]
        found.sort(key=lambda o: o["_dt"])
        return found

    def list_backups(self, prefix: str) -> dict[str, Any]:
        objs = self.objects(prefix)
        for obj in objs:
            head = aws_call(
                self.where(obj["key"]),
                self.client().head_object,
                Bucket=self.bucket,
                Key=obj["key"],
                ChecksumMode="ENABLED",
            )
            obj["version_id"] = head.get("VersionId")
            obj["checksum_sha256"] = head.get("ChecksumSHA256")
        return {"count": len(objs), "backups": [_public(o) for o in objs]}

    # ----------------------------------------------------------------- verification
    def _sidecar(self, key: str) -> str | None:
        """The SHA-256 (hex) the object's ``.sha256`` sidecar records, or None (none there)."""
        try:
            response = self._get(key + ".sha256")
        except PermanentError:
            return None
        text = b"".join(self._body(key + ".sha256", response)).decode(errors="replace")
        return (text.split() or [""])[0].lower() or None

    def verify_object(
        self, key: str, version_id: str | None, cancel: Any = None, sidecar: bool | None = None
    ) -> dict[str, Any]:
        """Stream the object through SHA-256 (constant memory) and compare with its ``.sha256``
        sidecar, else its stored SHA-256 (from the GET's own headers; a checksum of part
        checksums does not count). ``sidecar`` False: a listing showed none, so none is asked
        for; None: not known, so it is."""
        recorded = self._sidecar(key) if sidecar is not False else None
        start = time.perf_counter()
        response = self._get(key, version_id)
        expected, source = _expected(recorded, response)
        digest = hashlib.sha256()
        size = 0
        for chunk in self._body(key, response, cancel):
            digest.update(chunk)
            size += len(chunk)
        seconds = max(time.perf_counter() - start, 1e-9)
        actual = digest.hexdigest()
        out = {
            "key": key,
            "version_id": response.get("VersionId"),
            "size": size,
            "sha256": actual,
            "expected": expected,
            "expected_from": source,
            "mb_per_s": round(size / seconds / 1e6, 1),
        }
        if expected is None:
            raise CheckFailed(
                f"{self.where(key)} has no checksum to compare with (no stored SHA-256 and "
                "no .sha256 sidecar)",
                evidence=out,
                hint="upload backups with ChecksumAlgorithm=SHA256 or a sidecar",
            )
        if actual != expected:
            raise CheckFailed(
                f"{self.where(key)} (version {out['version_id']}) does not match its checksum: "
                f"{actual[:16]}… against {expected[:16]}… from the {source}",
                evidence=out,
                hint="the object changed after its checksum was recorded: do not restore it",
            )
        return out

    def _keys(self, prefix: str) -> Iterator[tuple[str, bool | None]]:
        """Every current object's key under a prefix, a listing page at a time, with whether
        the listing shows its ``.sha256`` sidecar: None when the sidecar would sort past the
        end of a page that has more after it (it may be on the next)."""
        for items, more in self._listing(prefix):
            keys = [item["Key"] for item in items]
            del items
            names, last = set(keys), keys[-1] if keys else ""
            for key in keys:
                if key.endswith(".sha256"):
                    continue
                side = key + ".sha256"
                yield key, (None if more and side > last else side in names)

    def verify_all(self, prefix: str, parallel: int, cancel: Any) -> dict[str, Any]:
        """Verify every object under a prefix, ``parallel`` at a time. Memory stays flat
        whatever the count: keys come a listing page at a time, at most ``2 * parallel`` are in
        flight, and only counts and the failures are kept."""
        start = time.perf_counter()
        checked = total = 0
        problems: list[str] = []

        def one(key: str, sidecar: bool | None) -> tuple[int, str | None]:
            try:
                return int(self.verify_object(key, None, cancel, sidecar)["size"]), None
            except CheckFailed as exc:
                return 0, exc.message

        def tally(done: set[Future[tuple[int, str | None]]]) -> None:
            nonlocal checked, total
            for future in done:
                size, problem = future.result()
                checked += 1
                total += size
                if problem is not None:
                    problems.append(problem)

        workers = max(1, parallel)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[tuple[int, str | None]]] = set()
            for key, sidecar in self._keys(prefix):
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    tally(done)
                pending.add(pool.submit(one, key, sidecar))
            tally(wait(pending).done)
        problems.sort()  # by key, whatever order they finished in
        seconds = max(time.perf_counter() - start, 1e-9)
        out: dict[str, Any] = {
            "checked": checked,
            "failed": problems,
            "bytes": total,
            "mb_per_s": round(total / seconds / 1e6, 1),
        }
        if problems:
            raise CheckFailed(
                f"{len(problems)} of {checked} objects fail their checksum: " + problems[0],
                evidence=out,
            )
        return out

    def freshness(self, prefix: str, rpo_s: float) -> dict[str, Any]:
        objs = self.objects(prefix)
        if not objs:
            raise CheckFailed(f"no backups under {prefix}: nothing succeeded")
        newest = objs[-1]
        age = (utcnow() - newest["_dt"]).total_seconds()
        out = {
            "newest": newest["key"],
            "newest_time": newest["time"],
            "age_s": round(age, 1),
            "rpo_s": rpo_s,
        }
        if age > rpo_s:
            raise CheckFailed(
                f"the newest backup under {prefix} is {round(age / 3600, 1)} h old,"
                f" more than the allowed {round(rpo_s / 3600, 1)} h",
                evidence=out,
            )
        return out

    def size_anomaly(self, prefix: str, max_change: float) -> dict[str, Any]:
        objs = self.objects(prefix)
        if len(objs) < 2:
            return {
                "latest": objs[-1]["key"] if objs else None,
                "change": None,
                "note": "fewer than two backups: nothing to compare",
            }
        latest, previous = objs[-1], objs[-2]
        change = (latest["size"] - previous["size"]) / max(previous["size"], 1)
        out = {
            "latest": latest["key"],
            "latest_size": latest["size"],
            "previous": previous["key"],
            "previous_size": previous["size"],
            "change": round(change, 3),
        }
        if abs(change) > max_change:
            raise CheckFailed(
                f"{latest['key']} is {abs(round(change * 100))}% "
                f"{'smaller' if change < 0 else 'larger'} than {previous['key']} "
                f"({latest['size']:,} bytes against {previous['size']:,} bytes; "
                f"alert above {round(max_change * 100)}%)",
                evidence=out,
            )
        return out

    def expected_days(self, prefix: str, days: int) -> dict[str, Any]:
        """At least one backup on each of the last ``days`` days (UTC), today included."""
        objs = self.objects(prefix)
        have = {o["_dt"].astimezone(UTC).date() for o in objs}
        today = utcnow().date()
        wanted = [today - timedelta(days=i) for i in range(days)]
        missing = sorted(str(d) for d in wanted if d not in have)
        out = {"days": days, "missing": missing, "found": len(objs)}
        if missing:
            raise CheckFailed(f"no backup under {prefix} on {', '.join(missing)}", evidence=out)
        return out

    def bucket_protection(self, require_versioning: bool) -> dict[str, Any]:
        client = self.client()
        versioning = aws_call("versioning", client.get_bucket_versioning, Bucket=self.bucket).get(
            "Status", "Disabled"
        )
        out: dict[str, Any] = {"bucket": self.bucket, "versioning": versioning}
        try:
            lock = aws_call(
                "object lock", client.get_object_lock_configuration, Bucket=self.bucket
            )["ObjectLockConfiguration"]
            rule = lock.get("Rule", {}).get("DefaultRetention", {})
            out["object_lock"] = lock.get("ObjectLockEnabled", "Disabled")
            out["retention"] = {"mode": rule.get("Mode"), "days": rule.get("Days")}
        except PermanentError:
            out["object_lock"] = "not configured"
        try:
            rules = aws_call("encryption", client.get_bucket_encryption, Bucket=self.bucket)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
            out["encryption"] = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        except PermanentError:
            out["encryption"] = "not configured"
        if require_versioning and versioning != "Enabled":
            raise CheckFailed(
                f"bucket {self.bucket} has versioning {versioning}: an overwritten "
                "or deleted backup cannot be recovered",
                evidence=out,
            )
        return out

    def upload(self, path: str, key: str) -> dict[str, Any]:
        file = Path(path)
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        with file.open("rb") as handle:
            put = aws_call(
                self.where(key),
                self.client().put_object,
                Bucket=self.bucket,
                Key=key,
                Body=handle,
                ChecksumAlgorithm="SHA256",
            )
        return {
            "key": key,
            "version_id": put.get("VersionId"),
            "sha256": digest,
            "size": file.stat().st_size,
        }

    def download(self, key: str, path: str) -> dict[str, Any]:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        checked = self.verify_object(key, None)
        response = self._get(key)
        digest = hashlib.sha256()
        with target.open("wb") as handle:
            for chunk in self._body(key, response):
                handle.write(chunk)
                digest.update(chunk)
        if digest.hexdigest() != checked["sha256"]:
            raise TransientError(f"{self.where(key)} changed while it was downloaded; try again")
        Path(str(target) + ".sha256").write_text(f"{digest.hexdigest()}  {target.name}\n")
        made = response["LastModified"].timestamp()  # the file keeps the object's time
        os.utime(target, (made, made))
        return {
            "path": str(target),
            "key": key,
            "sha256": digest.hexdigest(),
            "size": checked["size"],
            "last_modified": format_timestamp(response["LastModified"]),
        }

    # ----------------------------------------------------------------- audit logs
    def _periods(self, prefix: str) -> list[tuple[datetime, dict[str, Any]]]:
        """The objects under ``prefix`` whose names carry the start of the period they hold
        (``...-20261126T030000Z...``), by that start."""
        found = []
        for obj in self.objects(prefix):
            start = period_start(obj["key"])
            if start is not None:
                found.append((start, obj))
        return sorted(found, key=lambda pair: pair[0])

    def audit_hours(
        self,
        prefix: str,
        period_s: float,
        since: str | None,
        until: str | None,
        window_s: float,
        grace_s: float,
    ) -> dict[str, Any]:
        """Every period (hour) from ``since`` (default: ``window_s`` back, or when shipping
        began) to ``until`` (default: the last period that ended ``grace_s`` ago) has an
        object; the missing ones are named by their start."""
        periods = self._periods(prefix)
        if not periods:
            raise CheckFailed(
                f"no audit logs under {prefix} at all",
                hint="is the shipping running? it names each object by its period's start",
            )
        period = timedelta(seconds=period_s)
        if until is None:
            end = period_floor(utcnow() - timedelta(seconds=grace_s), period)
        else:
            end = _when(until)
        if since is None:
            begin = max(end - timedelta(seconds=window_s), period_floor(periods[0][0], period))
        else:
            begin = _when(since)
        have = {period_floor(start, period) for start, _ in periods}
        wanted = []
        at = period_floor(begin, period)
        while at < end:
            wanted.append(at)
            at += period
        missing = [_hour(at) for at in wanted if at not in have]
        newest_start, newest = periods[-1]
        out = {
            "prefix": prefix,
            "checked": len(wanted),
            "from": _hour(wanted[0]) if wanted else None,
            "to": _hour(wanted[-1]) if wanted else None,
            "missing": missing,
            "newest": newest["key"],
            "newest_period": _hour(newest_start),
        }
        if missing:
            named = ", ".join(missing[:12]) + (
                f" and {len(missing) - 12} more" if missing[12:] else ""
            )
            raise CheckFailed(
                f"no audit log under {prefix} for {len(missing)} of {len(wanted)} "
                f"period(s) of {period_s:g} s: {named}",
                evidence=out,
                hint="each missing hour is more than the audit logs' RPO lost: ship it again "
                "from the source while the source still holds it",
            )
        return out

    def fetch_range(
        self, prefix: str, since: str, until: str, folder: str, period_s: float, cancel: Any
    ) -> dict[str, Any]:
        """Download every object whose period lies in [since, until), each verified against its
        checksum on the way, into a folder of its own with a SHA256SUMS; a damaged object is
        named and not kept."""
        begin, end = _when(since), _when(until)
        if end <= begin:
            raise PermanentError(f"the range {since} to {until} is empty: 'to' must be later")
        first = period_floor(begin, timedelta(seconds=period_s))
        chosen = [(start, obj) for start, obj in self._periods(prefix) if first <= start < end]
        if not chosen:
            raise CheckFailed(f"no audit logs under {prefix} from {_hour(first)} to {until}")
        target = Path(folder) / f"audit-{begin:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"
        sums, damaged, size = [], [], 0
        for _, obj in chosen:
            if cancel is not None and cancel.is_set():
                raise Cancelled("the audit log restore was cancelled")
            name = obj["key"].rsplit("/", 1)[-1]
            try:
                got = self.download(obj["key"], str(target / name))
            except CheckFailed as exc:
                damaged.append(exc.message)
                for stale in (target / name, target / f"{name}.sha256"):  # an earlier fetch's
                    stale.unlink(missing_ok=True)
                continue
            sums.append(f"{got['sha256']}  {name}\n")
            size += int(got["size"])
        (target / "SHA256SUMS").write_text("".join(sums))
        out = {
            "dir": str(target),
            "count": len(sums),
            "bytes": size,
            "first_period": _hour(chosen[0][0]),
            "last_period": _hour(chosen[-1][0]),
            "damaged": damaged,
        }
        if damaged:
            raise CheckFailed(
                f"{len(damaged)} of {len(chosen)} audit log objects fail their checksum and "
                f"were not kept: {damaged[0]}",
                evidence=out,
            )
        return out

    def newest(
        self, prefix: str, key: str | None = None, if_none: str | None = None
    ) -> dict[str, Any]:
        """The newest object under ``prefix``, or the one named by ``key`` (checked to exist);
        ``if_none`` is the hint when there is none."""
        if key:
            head = aws_call(self.where(key), self.client().head_object, Bucket=self.bucket, Key=key)
            return {
                "key": key,
                "size": int(head["ContentLength"]),
                "time": format_timestamp(head["LastModified"]),
            }
        objs = self.objects(prefix)
        if not objs:
            raise CheckFailed(f"no objects under {prefix}", hint=if_none)
        return _public(objs[-1])


_PERIOD = re.compile(r"(\d{8}T\d{6}Z)")


def audit_key(prefix: str, start: datetime) -> str:
    """The object name of the audit log for the period that starts at ``start``."""
    return f"{prefix}{start:%Y/%m/%d}/qsign-audit-{start:%Y%m%dT%H%M%SZ}.jsonl.gz"


def period_start(key: str) -> datetime | None:
    """The period start an object's name carries (``20261126T030000Z``), or None."""
    found = _PERIOD.search(key.rsplit("/", 1)[-1])
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def period_floor(value: datetime, period: timedelta) -> datetime:
    """The start of the period (counted from the Unix epoch, so hours start on the hour)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((value - epoch) // period) * period


def _when(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except TimeFormatError as exc:
        raise PermanentError(str(exc)) from None


def _hour(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _expected(sidecar: str | None, response: Mapping[str, Any]) -> tuple[str | None, str]:
    """The SHA-256 (hex) to compare with and where it comes from: the sidecar's, else the
    object's stored SHA-256 as its GET answer gives it, unless that is a checksum of part
    checksums (a multipart upload's, ``...-N``), which no hash of the whole body can match."""
    if sidecar:
        return sidecar, "sidecar .sha256"
    stored = response.get("ChecksumSHA256")
    if stored and "-" not in stored and response.get("ChecksumType") != "COMPOSITE":
        return base64.b64decode(stored).hex(), "stored S3 checksum"
    return None, "none"


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


class PrefixParams(Params):
    prefix: str = Field("", description="The key prefix, e.g. vault/snapshots/.")


class NewestParams(PrefixParams):
    key: str | None = Field(None, description="This object instead of the newest (checked).")
    if_none: str | None = Field(
        None, description="What to do when nothing is under the prefix, said with the failure."
    )


class VerifyObjectParams(Params):
    key: str
    version_id: str | None = None


class VerifyAllParams(PrefixParams):
    parallel: int = Field(4, ge=1, le=PARALLEL, description="Objects verified at the same time.")


class FreshParams(PrefixParams):
    rpo_s: float = Field(86400, gt=0, description="The newest backup must be younger than this.")


class SizeParams(PrefixParams):
    max_change: float = Field(0.5, gt=0, description="Alert when the size changes by more.")


class DaysParams(PrefixParams):
    days: int = Field(7, ge=1, le=366)


class ProtectionParams(Params):
    require_versioning: bool = True


class UploadParams(Params):
    path: str
    key: str


class DownloadParams(Params):
    key: str
    path: str


class AuditHoursParams(Params):
    prefix: str = "audit/"
    period_s: float = Field(3600, gt=0, description="One object per period (the RPO).")
    since: str | None = Field(None, description="Default: window_s back, or when it began.")
    until: str | None = Field(None, description="Default: the last period ended grace_s ago.")
    window_s: float = Field(86400, gt=0)
    grace_s: float = Field(900, ge=0, description="How long a period's shipping may take.")


class FetchRangeParams(Params):
    prefix: str = "audit/"
    since: str = Field(description="The range's start (ISO 8601 UTC).")
    until: str = Field(description="The range's end, not included.")
    dir: str = Field(description="A folder; the range gets a folder of its own inside.")
    period_s: float = Field(3600, gt=0)


def _s3(ctx: ActionContext) -> ObjectStore:
    return ObjectStore(ctx.site.get("s3") or {})


ACTIONS = [
    ActionSpec(
        name="s3.list_backups",
        summary="Objects under a prefix: time, size, version, checksum.",
        params=PrefixParams,
        outputs={"count": "", "backups": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).list_backups(p.prefix),
        describe=lambda p: f"list {p.prefix}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.newest",
        summary="The newest object under a prefix (or the one named by key).",
        params=NewestParams,
        outputs={"key": "", "size": "", "time": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).newest(p.prefix, p.key, p.if_none),
        describe=lambda p: p.key or f"newest under {p.prefix}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.verify_object",
        summary="Stream an object through SHA-256; compare with its checksum.",
        params=VerifyObjectParams,
        outputs={
            "key": "",
            "version_id": "",
            "size": "",
            "sha256": "",
            "expected": "",
            "expected_from": "",
            "mb_per_s": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).verify_object(p.key, p.version_id, c.cancel),
        describe=lambda p: f"verify {p.key}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.verify_all",
        summary="Verify every object under a prefix, several at a time.",
        params=VerifyAllParams,
        outputs={"checked": "", "failed": "", "bytes": "", "mb_per_s": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).verify_all(p.prefix, p.parallel, c.cancel),
        describe=lambda p: f"verify every object under {p.prefix}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.freshness",
        summary="The newest backup's age against the RPO.",
        params=FreshParams,
        outputs={"newest": "", "newest_time": "", "age_s": "", "rpo_s": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).freshness(p.prefix, p.rpo_s),
        describe=lambda p: f"newest under {p.prefix} younger than {p.rpo_s:g} s",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.size_anomaly",
        summary="The latest backup's size against the one before.",
        params=SizeParams,
        outputs={
            "latest": "",
            "latest_size": "",
            "previous": "",
            "previous_size": "",
            "change": "",
            "note": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).size_anomaly(p.prefix, p.max_change),
        describe=lambda p: f"size change under {p.prefix}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.expected_days",
        summary="A backup on each of the last N days.",
        params=DaysParams,
        outputs={"days": "", "missing": "", "found": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).expected_days(p.prefix, p.days),
        describe=lambda p: f"a backup each day for {p.days} days under {p.prefix}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.bucket_protection",
        summary="Versioning, object lock and retention, encryption.",
        params=ProtectionParams,
        outputs={
            "bucket": "",
            "versioning": "",
            "object_lock": "",
            "retention": "",
            "encryption": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).bucket_protection(p.require_versioning),
        describe=lambda p: "bucket protection",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.audit_hours",
        summary="Every hour (period) of a range has its audit log object; missing hours named.",
        params=AuditHoursParams,
        outputs={
            "prefix": "",
            "checked": "periods checked",
            "from": "",
            "to": "",
            "missing": "the missing periods by their start",
            "newest": "",
            "newest_period": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _s3(c).audit_hours(
            p.prefix, p.period_s, p.since, p.until, p.window_s, p.grace_s
        ),
        describe=lambda p: f"an audit log for each {p.period_s:g} s under {p.prefix}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.fetch_range",
        summary="Download the audit logs of a time range, each verified against its checksum.",
        params=FetchRangeParams,
        outputs={
            "dir": "where they are",
            "count": "",
            "bytes": "",
            "first_period": "",
            "last_period": "",
            "damaged": "objects that failed their checksum (not kept)",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _s3(c).fetch_range(
            p.prefix, p.since, p.until, p.dir, p.period_s, c.cancel
        ),
        describe=lambda p: f"download {p.prefix} from {p.since} to {p.until} into {p.dir}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.upload",
        summary="Upload a file with a SHA-256 checksum.",
        params=UploadParams,
        outputs={"key": "", "version_id": "", "sha256": "", "size": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _s3(c).upload(p.path, p.key),
        describe=lambda p: f"upload {p.path}",
        needs_site=True,
    ),
    ActionSpec(
        name="s3.download",
        summary="Download an object after verifying it; .sha256 beside it.",
        params=DownloadParams,
        outputs={
            "path": "",
            "key": "",
            "sha256": "",
            "size": "bytes",
            "last_modified": "the object's LastModified, kept as the file's modification time",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _s3(c).download(p.key, p.path),
        describe=lambda p: f"download {p.key}",
        needs_site=True,
    ),
]
