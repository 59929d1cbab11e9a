"""The run folder's `state.json`: which run this is and which experiment it drives.

Written before the experiment is created (so the run id is fixed first) and rewritten
atomically (temp file + rename) once the experiment exists. Restarting the same command
reads it back: same run id, so the run adopts its own open suggestions.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


@dataclass
class RunState:
    run_id: str
    experiment_id: str | None = None
    #: Hash of the experiment definition the experiment was created from.
    definition_hash: str | None = None

    @staticmethod
    def hash_definition(definition: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def make_run_dir(path: Path) -> None:
    """The run folder and its parents, not writable (nor readable) by other users."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def load_state(run_dir: Path) -> RunState | None:
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return RunState(**{k: data.get(k) for k in ("run_id", "experiment_id", "definition_hash")})


def new_state() -> RunState:
    return RunState(run_id=uuid.uuid4().hex[:12])


def save_state(run_dir: Path, state: RunState) -> None:
    tmp = run_dir / (STATE_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(state), f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, run_dir / STATE_FILE)
