"""Fixtures of the AI-module tests: the official client's factory (what `sigopt.*` calls
go through) bound to a project of a service running in a thread of this process."""

from __future__ import annotations

from typing import Any

import pytest
from sigopt import Connection
from sigopt.factory import SigOptFactory

#: An AI experiment as SigOpt's documentation writes one.
AI_EXPERIMENT: dict[str, Any] = dict(
    name="m",
    parameters=[
        dict(name="lr", type="double", bounds=dict(min=0.001, max=1.0), transformation="log"),
        dict(name="depth", type="int", bounds=dict(min=1, max=6)),
    ],
    metrics=[dict(name="accuracy", objective="maximize")],
    budget=8,
    parallel_bandwidth=4,
)


@pytest.fixture
def factory(conn: Connection) -> SigOptFactory:
    """`sigopt.create_experiment` and friends, in project `proj` (created)."""
    made = SigOptFactory("proj", connection=conn)
    made.create_project(name="Project")
    return made
