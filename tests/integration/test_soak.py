"""The quick chaos soak, its PostgreSQL row and a small leak run (`benchmarks/soak/`),
every row asserted.

The full versions run in `make soak`; these are the same code at a smaller budget, with
seeded faults and a seeded service, and chaos triggered by progress rather than by time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest

from benchmarks.soak import (
    QUICK,
    QUICK_POSTGRES,
    LeakBounds,
    SoakReport,
    run_leak,
    run_postgres_soak,
    run_soak,
)

pytestmark = pytest.mark.slow


def failed_rows(report: SoakReport) -> list[str]:
    return [f"{r.check}: {r.measured} (target {r.target})" for r in report.rows if not r.ok]


class TestChaosSoak:
    """Three coordinators through fault proxies, kill -9s of one of them and of the service."""

    async def test_quick_soak_meets_every_target(self, tmp_path: Path) -> None:
        """1. One standalone service, three coordinators (async, subprocess, async) on one
           experiment with a budget of 150, 16 workers each, ~20% injected faults.
        2. At 15% and 50% of the budget the subprocess coordinator is killed -9 and
           restarted; at 30% and 70% the service is killed -9 and restarted on its database.
        3. Exactly the budget is observed, nothing twice, nothing lost or left open, every
           failure has its reason, every final run exits 0, and no process is left."""
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        with anyio.fail_after(110):
            report = await run_soak(QUICK, tmp_path, say=lambda _: None)
        assert not failed_rows(report), (failed_rows(report), report.details)
        assert len(report.rows) >= 9


class TestPostgresSoak:
    """Two service processes on one PostgreSQL database survive kill -9s and a crash of
    the database server, with coordinators failing over between them."""

    @pytest.mark.timeout(240)
    async def test_quick_postgres_soak_meets_every_target(self, tmp_path: Path) -> None:
        """1. A crash-safe throwaway PostgreSQL server; two service processes on one of its
           databases; three coordinators (async, subprocess, async; 16 workers each) on
           one experiment with a budget of 300, each listing both services, every URL
           through a fault proxy of its own (~20% faults), in a different order.
        2. At 20% of the budget service 0 is killed -9 (and restarted on its port), at 45%
           the server is restarted with `pg_ctl restart -m immediate`, at 70% service 1
           is killed -9 (and restarted).
        3. Exactly the budget is observed, nothing twice, nothing lost or left open, every
           failure has its reason, every run exits 0, both services answered requests,
           and no process is left."""
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        with anyio.fail_after(220):
            report = await run_postgres_soak(QUICK_POSTGRES, tmp_path, say=lambda _: None)
        assert not failed_rows(report), (failed_rows(report), report.details)
        assert all(n > 0 for n in report.details["forwarded_per_service"]), report.details
        assert len(report.rows) >= 10


class TestLeaks:
    """A run of 2,000 no-op evaluations: no growth in open fds, no children, bounded RSS."""

    async def test_no_growth_over_two_thousand_evaluations(self, tmp_path: Path) -> None:
        bounds = LeakBounds(evaluations=2000, warmup=400, fd_growth=5, rss_growth_mb=30)
        with anyio.fail_after(60):
            report = await run_leak(bounds, tmp_path, say=lambda _: None)
        assert not failed_rows(report), (failed_rows(report), report.details)
