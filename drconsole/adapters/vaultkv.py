"""Vault / OpenBao KV v2 secrets exported and restored: every secret under a folder (all when
none), newest versions, sealed with AES-256-GCM into one file with its ``.sha256`` (``sealed``);
a restore checks, decrypts and writes back one path, some or all, leaving alone a path that
already holds the same data. Outputs name paths and counts, never values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drconsole.adapters.base import CheckFailed, PermanentError, wait_until
from drconsole.adapters.vault import VaultAdapter
from drconsole.timeutil import format_timestamp, utcnow

KV_KIND = "vault-kv"


def _kv_list(vault: VaultAdapter, client: Any, mount: str, folder: str) -> list[str]:
    import hvac.exceptions

    def listing() -> list[str]:
        try:
            answer = client.secrets.kv.v2.list_secrets(path=folder, mount_point=mount)
        except hvac.exceptions.InvalidPath:  # an empty folder, or no folder
            return []
        return [str(k) for k in answer["data"]["keys"]]

    return list(vault.call(f"list {mount}/{folder}", listing))


def _kv_read(vault: VaultAdapter, client: Any, mount: str, path: str) -> dict[str, Any] | None:
    """A secret's newest version: {"data", "version"}; None when there is none (or the
    newest version is deleted)."""
    import hvac.exceptions

    def reading() -> dict[str, Any] | None:
        try:
            answer = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=False
            )
        except hvac.exceptions.InvalidPath:
            return None
        data = answer["data"]["data"]
        version = answer["data"]["metadata"]["version"]
        return None if data is None else {"data": data, "version": version}

    result: dict[str, Any] | None = vault.call(f"read {mount}/{path}", reading)
    return result


def _kv_write(vault: VaultAdapter, client: Any, mount: str, path: str, data: dict[str, Any]) -> int:
    """Write one secret; a new mount's first moments ("Upgrading ...") are waited out."""
    upgrading: list[PermanentError] = []

    def written() -> int | None:
        try:
            answer = vault.call(
                f"write {mount}/{path}",
                client.secrets.kv.v2.create_or_update_secret,
                path=path,
                secret=data,
                mount_point=mount,
            )
        except PermanentError as exc:
            if "Upgrading" not in exc.message:
                raise
            upgrading[:] = [exc]
            return None
        return int(answer["data"]["version"])

    version = wait_until(written, 30)
    if version is None:
        raise upgrading[0]
    return version


def kv_export(
    vault: VaultAdapter, mount: str, prefix: str, folder: str, key: bytes
) -> dict[str, Any]:
    """Every KV v2 secret under ``prefix`` (all when empty), newest versions, sealed into
    one file with its ``.sha256``. Outputs name paths and counts, never values."""
    from drconsole.adapters import sealed

    client = vault.client()
    start = prefix.strip("/") + "/" if prefix.strip("/") else ""
    folders, found, deleted = [start], {}, []
    while folders:
        here = folders.pop()
        for name in _kv_list(vault, client, mount, here):
            if name.endswith("/"):
                folders.append(here + name)
                continue
            read = _kv_read(vault, client, mount, here + name)
            if read is None:
                deleted.append(here + name)
            else:
                found[here + name] = read
    if not found:
        raise CheckFailed(
            f"no secrets under {mount}/{start} at {vault.section['addr']}",
            hint="check the mount and the prefix (a folder, e.g. qsign/) and the token",
        )
    clear = {
        "mount": mount,
        "prefix": start,
        "taken_at": format_timestamp(utcnow()),
        "versions": {path: found[path]["version"] for path in sorted(found)},
    }
    secrets = {path: found[path]["data"] for path in sorted(found)}
    name = f"vault-secrets-{sealed.stamp()}.json"
    written = sealed.write(Path(folder) / name, sealed.seal(KV_KIND, clear, secrets, key))
    return {
        **written,
        "paths": sorted(found),
        "count": len(found),
        "deleted": sorted(deleted),
        "taken_at": clear["taken_at"],
    }


def kv_restore(
    vault: VaultAdapter, path: str, key: bytes, mount: str | None, only: list[str]
) -> dict[str, Any]:
    """Check the export's ``.sha256``, decrypt and authenticate it, then write each chosen
    path (all when ``only`` is empty) as a new version; a path already holding the same
    data is left alone. A missing KV v2 mount is created."""
    from drconsole.adapters import sealed

    clear, secrets = sealed.open_sealed(sealed.read_checked(path), KV_KIND, key, path)
    unknown = sorted(set(only) - set(secrets))
    if unknown:
        raise PermanentError(
            f"the export holds no secret {', '.join(unknown)}; nothing was written "
            f"(it holds {len(secrets)}: {', '.join(sorted(secrets))})"
        )
    mount = mount or str(clear["mount"])
    client = vault.client()
    mounts = vault.call("list mounts", client.sys.list_mounted_secrets_engines)
    created = f"{mount}/" not in (mounts.get("data") or mounts)
    if created:
        vault.call(
            f"enable KV v2 at {mount}/",
            client.sys.enable_secrets_engine,
            "kv",
            path=mount,
            options={"version": "2"},
        )
    restored: list[str] = []
    unchanged: list[str] = []
    versions: dict[str, int] = {}
    for secret_path in only or sorted(secrets):
        current = None if created else _kv_read(vault, client, mount, secret_path)
        if current is not None and current["data"] == secrets[secret_path]:
            unchanged.append(secret_path)
            continue
        versions[secret_path] = _kv_write(vault, client, mount, secret_path, secrets[secret_path])
        read = _kv_read(vault, client, mount, secret_path)
        if read is None or read["data"] != secrets[secret_path]:
            raise CheckFailed(
                f"{mount}/{secret_path} does not read back as restored",
                evidence={"restored": restored},
            )
        restored.append(secret_path)
    return {
        "restored": restored,
        "unchanged": unchanged,
        "count": len(restored),
        "versions": versions,
        "mount": mount,
        "mount_created": created,
        "taken_at": clear["taken_at"],
    }
