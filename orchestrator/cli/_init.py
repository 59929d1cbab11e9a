"""`orchestrator init [--kind K] [--force] [DIRECTORY]`: a starting point that runs as written.

Writes `tune.yaml` (commented) and the objective it names into DIRECTORY (default: the
current folder), from the templates shipped in `orchestrator.templates`:

    subprocess   tune.yaml + train.py       (a script, run once per suggestion)
    async        tune.yaml + objective.py   (an `async def evaluate`)
    process      tune.yaml + objective.py   (a plain `def evaluate`, in a process pool)

The objectives need only the standard library. Existing files are never overwritten
without `--force`: the command then writes nothing and exits 2, naming them.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from orchestrator.cli._common import EXIT_CONFIG, EXIT_ERROR
from orchestrator.templates import CONFIG_NAME, TEMPLATES, template_text

__all__ = ["init"]

#: One line per written file, for the summary.
WHAT = {
    CONFIG_NAME: "the job: search space, metric, budget, workers (commented)",
    "train.py": "the objective, run once per suggestion: replace its `train` with yours",
    "objective.py": "the objective, called once per suggestion: replace its `evaluate` body",
}


def init(args: argparse.Namespace, console: Console) -> int:
    """Write the templates of `args.kind` into `args.directory`; 0, or 2 if a file is in
    the way (without `args.force`), or 1 if the folder cannot be written."""
    kind: str = args.kind
    directory = Path(args.directory)
    targets = {directory / name: template_text(kind, name) for name in TEMPLATES[kind]}
    if directory.exists() and not directory.is_dir():
        console.print(f"[red]init:[/] {escape(str(directory))} exists and is not a folder")
        return EXIT_CONFIG
    in_the_way = [path for path in targets if path.exists() or path.is_symlink()]
    if in_the_way and not args.force:
        names = ", ".join(str(path) for path in in_the_way)
        console.print(
            f"[red]init:[/] would overwrite {escape(names)}; nothing written "
            "(--force replaces them)",
            soft_wrap=True,
        )
        return EXIT_CONFIG
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in targets.items():
            _replace(path, text)
    except OSError as exc:
        console.print(f"[red]init:[/] cannot write into {escape(str(directory))}: {exc}")
        return EXIT_ERROR
    for path in targets:
        console.print(f"wrote {escape(str(path))}: {WHAT[path.name]}", soft_wrap=True)
    console.print(f"next: {escape(next_command(directory))}", soft_wrap=True)
    return 0


def _replace(path: Path, text: str) -> None:
    """Write `text` as a new file at `path`: a file or symlink in the way is removed first,
    never written through, so `--force` cannot write outside the folder."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def next_command(directory: Path) -> str:
    """The command that runs the written job: from its folder, as its paths expect."""
    run = f"orchestrator run {CONFIG_NAME}"
    if directory.resolve() == Path.cwd().resolve():
        return run
    return f"cd {shlex.quote(str(directory))} && {run}"
