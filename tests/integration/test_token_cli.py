"""`orchestrator token create|list|rotate|revoke` as a user runs them: real subprocesses
against a real service process on loopback started with an admin `--token`; and no
secret of any token on disk (the database and its WAL) or in the service's logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow

ADMIN = "cli-admin-token-0123456789abcdef"


def orchestrator(
    *argv: str, url: str, token: str = ADMIN, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGOPT_API_TOKEN": token, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "token", *argv, "--api-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _secret(stdout: str) -> str:
    [line] = [line for line in stdout.splitlines() if line.startswith("secret: ")]
    return line.removeprefix("secret: ")


def _on_disk(folder: Path) -> dict[str, bytes]:
    """Every file of the database (the file, its WAL and shared memory), by name."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("service.db")}


def _status(url: str, token: str, method: str = "GET", path: str = "/v1/experiments") -> int:
    body = {
        "name": "x",
        "parameters": [{"name": "x", "type": "int", "bounds": {"min": 0, "max": 3}}],
    }
    answer = requests.request(
        method,
        f"{url}{path}",
        auth=(token, ""),
        json=body if method == "POST" else None,
        timeout=30,
    )
    return answer.status_code


def test_token_commands_and_no_secret_at_rest(tmp_path: Path) -> None:
    """1. `create --read-only --expires 30d` prints the secret once; it reads, never writes.
    2. `create --experiment ID --json`: a share token of that experiment.
    3. `list --json` shows both, without secrets. 4. `rotate`: the old secret is a 401,
    the new one works. 5. `revoke`: a 401 at the next request. 6. Refusals exit non-zero
    and say why. 7. After the service stops, no secret is in its database files or logs."""
    db = tmp_path / "service.db"
    service = ServiceProcess(db, "--token", ADMIN, "--log-level", "debug")
    url = service.start()
    secrets_seen: list[str] = []
    try:
        created = orchestrator("create", "--name", "ci", "--read-only", "--expires", "30d", url=url)
        assert created.returncode == 0, created.stderr
        assert "token 1 (ci) created: read-only, expires" in created.stdout
        assert "Shown once" in created.stdout
        reader = _secret(created.stdout)
        secrets_seen.append(reader)
        assert _status(url, reader) == 200
        assert _status(url, reader, "POST") == 403
        eid = requests.post(
            f"{url}/v1/experiments",
            auth=(ADMIN, ""),
            json={
                "name": "e",
                "parameters": [{"name": "x", "type": "int", "bounds": {"min": 0, "max": 3}}],
            },
            timeout=30,
        ).json()["id"]

        shared = orchestrator("create", "--experiment", eid, "--json", url=url)
        assert shared.returncode == 0, shared.stderr
        share = json.loads(shared.stdout)
        secrets_seen.append(share["token"])
        assert (share["experiment"], share["permissions"]) == (eid, "read")
        assert _status(url, share["token"], path=f"/v1/experiments/{eid}") == 200
        assert _status(url, share["token"]) == 403

        listed = orchestrator("list", "--json", url=url)
        assert listed.returncode == 0, listed.stderr
        assert [t["id"] for t in json.loads(listed.stdout)] == [share["id"], "1"]
        assert not any(s in listed.stdout for s in secrets_seen)
        table = orchestrator("list", url=url)
        assert "read-only" in table.stdout and f"experiment {eid}" in table.stdout

        rotated = orchestrator("rotate", "1", url=url)
        assert rotated.returncode == 0, rotated.stderr
        new_reader = _secret(rotated.stdout)
        secrets_seen.append(new_reader)
        assert _status(url, reader) == 401 and _status(url, new_reader) == 200

        revoked = orchestrator("revoke", "1", url=url)
        assert (revoked.returncode, revoked.stdout.strip()) == (0, "token 1 revoked")
        assert _status(url, new_reader) == 401

        again = orchestrator("revoke", "1", url=url)
        assert again.returncode == 1 and "No token 1" in again.stdout
        not_admin = orchestrator("list", url=url, token=share["token"])
        assert not_admin.returncode == 1 and "(HTTP 403)" in not_admin.stdout
        bad_expiry = orchestrator("create", "--expires", "tomorrow", url=url)
        assert bad_expiry.returncode == 2 and "--expires" in bad_expiry.stdout
        running = _on_disk(tmp_path)
        assert "service.db-wal" in running  # what the commits wrote, before a checkpoint
        assert service.terminate() == 0
    finally:
        service.kill()
    logs = "".join(service.log_tail)
    assert "service_listening" in logs and "service_stopped" in logs
    for secret in [*secrets_seen, ADMIN]:
        assert secret not in logs
        for files in (running, _on_disk(tmp_path)):
            for name, data in files.items():
                assert secret.encode() not in data, name
