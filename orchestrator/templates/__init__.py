"""What `orchestrator init` writes: for each worker kind, a commented `tune.yaml` and the
objective it names, runnable as written with the standard library alone.

The files ship as package data (pyproject's `tool.setuptools.package-data`), so an install
from a wheel has them. The objectives are real modules, linted and type-checked with the
rest; they are read as text, never imported from here.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["CONFIG_NAME", "KINDS", "TEMPLATES", "template_text"]

#: The config every kind writes; `orchestrator run tune.yaml` runs it.
CONFIG_NAME = "tune.yaml"

#: Per kind: the file written (in the user's folder) -> the template it is copied from.
TEMPLATES: dict[str, dict[str, str]] = {
    "subprocess": {CONFIG_NAME: "subprocess.yaml", "train.py": "train.py"},
    "async": {CONFIG_NAME: "async.yaml", "objective.py": "async_objective.py"},
    "process": {CONFIG_NAME: "process.yaml", "objective.py": "process_objective.py"},
}
KINDS = tuple(TEMPLATES)


def template_text(kind: str, written_name: str) -> str:
    """The text `init` writes as `written_name` for `kind` (keys of `TEMPLATES`)."""
    source = TEMPLATES[kind][written_name]
    return files(__name__).joinpath(source).read_text(encoding="utf-8")
