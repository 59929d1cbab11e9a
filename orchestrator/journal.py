"""A local journal of computed outcomes the service did not acknowledge.

When a report cannot be delivered (the service stayed unreachable past the retry budget,
or the run is cancelled mid-send), its body is appended to `reports.jsonl` in the run
folder. A restarted run reports what is pending, then appends a `done` line, instead of
evaluating those suggestions again. The happy path writes nothing: a kill -9 mid-send
costs at most a re-evaluation, never a duplicate (the suggestion is still open). The file
is append-only and line-oriented, so a torn last line from a crash is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

from sigopt_service.models import MetricEvaluation


@dataclass(frozen=True)
class PendingReport:
    suggestion_id: str
    values: list[MetricEvaluation]
    failed: bool
    metadata: dict[str, str | int | float]


class ReportJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def __repr__(self) -> str:
        return f"ReportJournal({str(self.path)!r})"

    def _append(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        # One write per line, flushed: a kill -9 keeps everything handed to the OS.
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()

    async def record(
        self,
        suggestion_id: str,
        values: Sequence[MetricEvaluation],
        failed: bool,
        metadata: dict[str, str | int | float],
    ) -> None:
        entry = {
            "s": suggestion_id,
            "failed": failed,
            "metadata": metadata,
            "values": [v.model_dump(mode="json", exclude={"object"}) for v in values],
        }
        await anyio.to_thread.run_sync(self._append, entry)

    async def done(self, suggestion_id: str) -> None:
        await anyio.to_thread.run_sync(self._append, {"done": suggestion_id})

    def _read(self) -> list[PendingReport]:
        if not self.path.exists():
            return []
        pending: dict[str, PendingReport] = {}
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn last line from a crash mid-write
                if "done" in entry:
                    pending.pop(str(entry["done"]), None)
                else:
                    pending[str(entry["s"])] = PendingReport(
                        suggestion_id=str(entry["s"]),
                        failed=bool(entry["failed"]),
                        metadata=dict(entry["metadata"]),
                        values=[MetricEvaluation.model_validate(v) for v in entry["values"]],
                    )
        return list(pending.values())

    async def pending(self) -> list[PendingReport]:
        return await anyio.to_thread.run_sync(self._read)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
