"""structlog set-up, done once by each entry point (`python -m sigopt_service`, `orchestrator`).

Colour follows the terminal test and the two conventions that override it: `NO_COLOR`
(https://no-color.org: no colour, even on a terminal) and `FORCE_COLOR`
(https://force-color.org: colour, even into a pipe). `NO_COLOR` wins when both are set.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal, TextIO, cast

import structlog

LogFormat = Literal["json", "console", "auto"]


def colour_wanted(stream: TextIO) -> bool:
    """Whether to write ANSI colour codes to `stream`: `NO_COLOR`, `FORCE_COLOR`, isatty."""
    if os.environ.get("NO_COLOR", "") != "":
        return False
    if os.environ.get("FORCE_COLOR", "") != "":
        return True
    try:
        return stream.isatty()
    except ValueError:  # a closed stream is no terminal
        return False


class _CurrentStderr:
    """`sys.stderr` as it is at each write, not at set-up: a live display that redirects
    stderr (rich's `Live` panel) then shows log lines above itself, not inside it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: LogFormat = "auto", level: str = "info") -> None:
    """Key-value events: contextvars first, then level, ISO UTC time, exceptions, renderer."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    colours = colour_wanted(sys.stderr)
    renderer: structlog.typing.Processor = (
        # Tracebacks without local variables: a frame's locals may hold a token or a
        # request body, and logs must never echo secrets.
        structlog.dev.ConsoleRenderer(
            colors=colours,
            exception_formatter=structlog.dev.RichTracebackFormatter(
                show_locals=False, color_system="truecolor" if colours else None
            ),
        )
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # `dict_tracebacks` would show every frame's locals (structlog's default):
            # the same rule as the console's, no locals.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
            if not use_console
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
