"""The embedded service's lifeline (`--exit-with-stdin`): it stops when its stdin closes or
when the process that started it is gone, even if that happened while it was starting."""

from __future__ import annotations

import os
import time
from typing import IO

import anyio

from sigopt_service.cli import PARENT_CHECK_S, cancel_at_stdin_eof


def _pipe() -> tuple[IO[str], int]:
    """A pipe standing in for the service's stdin: (its read end as a file, write fd)."""
    read_fd, write_fd = os.pipe()
    return os.fdopen(read_fd), write_fd


async def _stopped_within(parent: int, *, close_pipe: bool) -> float:
    """Run the lifeline on a pipe of ours; seconds until it cancelled its scope."""
    stdin_file, write_fd = _pipe()
    start = time.monotonic()
    with stdin_file as stdin, anyio.fail_after(10):
        try:
            with anyio.CancelScope() as scope:
                if close_pipe:
                    os.close(write_fd)
                await cancel_at_stdin_eof(scope, parent, stdin)
                await anyio.sleep_forever()  # only the lifeline's cancel ends this
        finally:
            if not close_pipe:
                os.close(write_fd)
    return time.monotonic() - start


async def test_a_parent_gone_before_the_lifeline_started_still_counts() -> None:
    """The pipe stays open (a fork of the run holds it) and the pid the process started
    with is no longer our parent: the service stops within a check period."""
    not_our_parent = os.getppid() + 1_000_000  # a pid our parent can never have
    assert await _stopped_within(not_our_parent, close_pipe=False) < PARENT_CHECK_S * 4


async def test_stdin_closing_stops_it_at_once() -> None:
    assert await _stopped_within(os.getppid(), close_pipe=True) < PARENT_CHECK_S * 4
