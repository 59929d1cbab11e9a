"""The run folder's `state.json`: which run this is, which experiment it drives, and the
definition that experiment was made from, to tell what a changed config asks for.

Written before the experiment is created (so the run id is fixed first) and rewritten
atomically (temp file + rename) once the experiment exists or is updated. Restarting the same
command reads it back: same run id, so the run adopts its own open suggestions.

A changed definition either updates the experiment (`UPDATABLE`: a raised budget extends a
finished run) or is refused (`fixed_change` names the first changed field of the rest: the
search space, the metrics). State files written before the definition was kept hold only
`definition_hash`; `legacy_definition` rebuilds a definition to compare from it.

`service` records where the experiment lives: the service's URL, or `EMBEDDED` for the
run folder's own embedded service, so that a later run or query of the folder finds it
without being told again (`runner.recorded_service`). Older state files lack it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
#: `RunState.service` of an experiment on the embedded service (the run has no URL).
EMBEDDED = "embedded"

#: What `PUT /experiments/{id}` changes on an experiment that has observations: a config
#: that changed only these continues its experiment.
UPDATABLE = ("name", "observation_budget", "parallel_bandwidth", "metadata")
#: Keys that make the search space; with `metrics`, the rest of a definition is fixed too.
SEARCH_SPACE = ("parameters", "conditionals", "linear_constraints", "type")
#: Left out of `definition_hash`, the only record of a definition in older state files.
_UNHASHED = ("metadata", "parallel_bandwidth")


@dataclass
class RunState:
    run_id: str
    experiment_id: str | None = None
    #: Hash of the definition without metadata and parallel_bandwidth (`legacy_hash`); still
    #: written so that an older orchestrator can read the file.
    definition_hash: str | None = None
    #: The definition the experiment was created (or last updated) from, as JSON.
    definition: dict[str, Any] | None = None
    #: The service the experiment lives on: its base URL, or `EMBEDDED`; None in state
    #: files written before this was recorded.
    service: str | None = None

    @staticmethod
    def hash_definition(definition: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]

    def remember(self, experiment_id: str, definition: Mapping[str, Any]) -> None:
        """This run drives `experiment_id`, now made from `definition`."""
        self.experiment_id = experiment_id
        self.definition = json.loads(json.dumps(definition))
        self.definition_hash = legacy_hash(definition)


def legacy_hash(definition: Mapping[str, Any]) -> str:
    """The `definition_hash` state files have always held."""
    return RunState.hash_definition({k: v for k, v in definition.items() if k not in _UNHASHED})


def legacy_definition(
    state: RunState, definition: Mapping[str, Any], service: Mapping[str, Any]
) -> dict[str, Any] | None:
    """For a state file holding only `definition_hash`: the definition to compare the new
    one with, its updatable keys as the service has them; None if the fixed part differs
    (or cannot be told apart from a changed `name` or budget).

    The hash covered `name` and `observation_budget` as they were at creation: the
    service's values put in their place give the same hash when only those changed."""
    as_created = {**definition, **{k: service[k] for k in ("name", "observation_budget")}}
    if state.definition_hash not in (None, legacy_hash(definition), legacy_hash(as_created)):
        return None
    return {**definition, **{k: service.get(k) for k in UPDATABLE}}


@dataclass(frozen=True)
class FixedChange:
    """The first change to a part of the definition the experiment cannot take."""

    #: The config key, e.g. `experiment.parameters[1].bounds.max`.
    key: str
    #: What changed, e.g. `changed from 1.0 to 10.0 (parameter gamma)`.
    detail: str
    #: The top-level key it is under, e.g. `parameters`.
    top: str

    def why(self) -> str:
        """Why this needs a new experiment."""
        if self.top in SEARCH_SPACE:
            return "the experiment's search space is fixed"
        if self.top == "metrics":
            return "the experiment's metrics are fixed"
        return f"an experiment can change only {', '.join(UPDATABLE)}"


def updates(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The updatable keys whose value changed, with their new values."""
    old, new = _as_json(before), _as_json(after)
    return {k: new.get(k) for k in UPDATABLE if old.get(k) != new.get(k)}


def fixed_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> FixedChange | None:
    """The first change outside `UPDATABLE`, or None. Lists of named items (parameters,
    metrics, conditionals, categorical values) are matched by name, so an order change
    is none."""
    old, new = _as_json(before), _as_json(after)
    for top in sorted(set(old) | set(new)):
        if top in UPDATABLE:
            continue
        found = _first_change(old.get(top, _ABSENT), new.get(top, _ABSENT), f"experiment.{top}")
        if found is not None:
            key, detail = found
            return FixedChange(key=key, detail=detail, top=top)
    return None


_ABSENT: Any = object()


def _as_json(definition: Mapping[str, Any]) -> dict[str, Any]:
    # What state.json holds: tuples become lists, as in the stored copy.
    loaded: dict[str, Any] = json.loads(json.dumps(definition))
    return loaded


def _first_change(old: Any, new: Any, key: str, note: str = "") -> tuple[str, str] | None:
    if old is _ABSENT or new is _ABSENT:
        detail = f"added: {new!r}" if old is _ABSENT else f"removed (was {old!r})"
        return key, detail + note
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            found = _first_change(old.get(k, _ABSENT), new.get(k, _ABSENT), f"{key}.{k}", note)
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        if _is_named(old) and _is_named(new):
            return _named_change(old, new, key, note)
        if len(old) == len(new) and all(isinstance(v, dict) for v in old + new):
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                found = _first_change(a, b, f"{key}[{i}]", note)
                if found is not None:
                    return found
            return None
    if old != new or (type(old) is bool) != (type(new) is bool):
        return key, f"changed from {old!r} to {new!r}{note}"
    return None


def _is_named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(v, dict) and "name" in v for v in items)


def _named_change(
    old: list[dict[str, Any]], new: list[dict[str, Any]], key: str, note: str
) -> tuple[str, str] | None:
    """Items matched by name: one added, removed or changed; `note` says which item. A
    renamed item is both: `metric loss removed, loss2 added`."""
    kind = _ITEM_KINDS.get(key.rsplit(".", 1)[-1], "item")
    before = {item["name"]: item for item in old}
    removed = [name for name in before if name not in {item["name"] for item in new}]
    for i, item in enumerate(new):
        name = item["name"]
        if name not in before:
            gone = f"{removed[0]} removed, " if removed else ""
            return f"{key}[{i}]", f"{kind} {gone}{name} added{note}"
        found = _first_change(before.pop(name), item, f"{key}[{i}]", f" ({kind} {name}){note}")
        if found is not None:
            return found
    if before:
        return key, f"{kind} {next(iter(before))} removed{note}"
    return None


_ITEM_KINDS = {
    "parameters": "parameter",
    "metrics": "metric",
    "conditionals": "conditional",
    "categorical_values": "categorical value",
}


def make_run_dir(path: Path) -> None:
    """The run folder and its parents, not writable (nor readable) by other users."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def load_state(run_dir: Path) -> RunState | None:
    path = run_dir / STATE_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    keys = ("run_id", "experiment_id", "definition_hash", "definition", "service")
    return RunState(**{k: data.get(k) for k in keys})


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
