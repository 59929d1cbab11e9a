"""`outcome.json` in an evaluation's folder: what became of it, beside the files the
worker wrote there (a command's `stdout.log`, `stderr.log`), so the folder alone tells a
failure's story.

```json
{"suggestion_id": "12", "attempt": 1, "status": "failed", "reason": "no_metric",
 "message": "command exited 0 but wrote no result.json ...", "exit_code": 0,
 "duration_s": 0.41, "values": [], "details": {}}
```
`status` is `completed` or `failed`; `reason` and `message` are null when it completed;
`exit_code` is the exit status of the command when the worker reported one (a command
that exited: non-zero for `exit_code`, 0 for a failure decided on its output, such as
`no_metric`), null otherwise (killed by a signal, timed out, a kind that runs no command);
`values` are the metric values as reported; `details` the failure's other details (stdout
and stderr stay in `stdout.log` and `stderr.log`).
The coordinator writes it once the outcome is known, after the report (writing it never
delays or loses a report: a failure to write it is logged and the run goes on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import structlog

from workers.base import Completed, Outcome

log = structlog.get_logger()

OUTCOME_FILE = "outcome.json"
#: Details shown elsewhere: the message and exit code have their own keys, the output
#: is in `stdout.log` and `stderr.log`.
_NOT_IN_DETAILS = ("message", "stdout_tail", "stderr_tail", "exit_code")


def outcome_record(
    suggestion_id: str, attempt: int, outcome: Outcome, duration_s: float
) -> dict[str, Any]:
    """The JSON object `outcome.json` holds (see the module docstring)."""
    record: dict[str, Any] = {
        "suggestion_id": suggestion_id,
        "attempt": attempt,
        "status": "completed",
        "reason": None,
        "message": None,
        "exit_code": None,
        "duration_s": round(duration_s, 4),
        "values": [],
        "details": {},
    }
    if isinstance(outcome, Completed):
        record["values"] = [
            {"name": v.name, "value": v.value, "stddev": v.stddev} for v in outcome.values
        ]
        return record
    code = outcome.details.get("exit_code")
    record.update(
        status="failed",
        reason=outcome.reason,
        message=outcome.details.get("message"),
        exit_code=code if isinstance(code, int) else None,
        details={k: v for k, v in outcome.details.items() if k not in _NOT_IN_DETAILS},
    )
    return record


async def write_outcome(folder: Path, record: dict[str, Any]) -> None:
    """Write `record` to `folder/outcome.json` in a worker thread; never raises (an
    `OSError` or unencodable value is logged as `outcome_file_failed`)."""
    try:
        text = json.dumps(record, indent=2, allow_nan=False, default=str) + "\n"
        await anyio.to_thread.run_sync(_write, folder, text)
    except (OSError, ValueError) as exc:
        log.warning("outcome_file_failed", folder=str(folder), error=f"{type(exc).__name__}: {exc}")


def _write(folder: Path, text: str) -> None:
    # The worker usually made the folder; not if it failed before writing anything.
    folder.mkdir(mode=0o700, exist_ok=True)
    tmp = folder / f".{OUTCOME_FILE}.tmp"
    # Private like every file of the run (messages and stderr may hold secrets), whatever
    # the umask. A new file, never an existing one: the command writes into this folder,
    # and a link it left under this name must not be written through.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)
    tmp.replace(folder / OUTCOME_FILE)  # whole or absent, never half-written
