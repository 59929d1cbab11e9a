"""The soak's PostgreSQL row: two service processes on one PostgreSQL database, three
coordinators failing over between them, kill -9s of the services and a crash of the
database server.

A throwaway PostgreSQL server with its crash-safe defaults (`PostgresCluster.start(
durable=True)`: fsync and synchronous_commit on, so an immediate restart loses no
acknowledged commit) holds one database; two `python -m sigopt_service --db
postgresql://...` processes serve it on fixed ports (a killed one comes back on its URL),
each with its own seed (equal seeds would draw equal points, and the "lost" check tells
async evaluations apart by their points) and `--allow-duplicate-observations` as in the
chaos row: a duplicate is stored and counted, not hidden behind a 409. Three coordinators
(the chaos row's objectives: async, subprocess, async; 16 workers each) list both
services in `service.url`, each through a `FaultProxy` of its own injecting ~20% faults:
one proxy per coordinator per service. Coordinator `i` lists the services rotated by `i`,
so the first URLs differ and the load spreads even before a failover moves it.

As the observations pass fixed fractions of the budget a service process is killed -9
and restarted on its port (service 0 first, service 1 the second time, so each
coordinator loses the one it was on at least once), and the PostgreSQL server is
restarted once with `pg_ctl restart -m immediate` (both services lose every connection
at once). Checked as the other rows: observations == budget (the budget holds across two
processes), none duplicated, lost or left open, every failure with its reason, every
coordinator exits 0, no process of the run left; plus, as information, the requests each
service process answered, the coordinators' failovers and the suggestions they deleted.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from benchmarks.soak.chaos import check_observations
from benchmarks.soak.processes import (
    CoordinatorProcess,
    direct_client,
    experiment_body,
    free_port,
    kill_all,
    observed_count,
    processes_naming,
    soak_coordinator,
    start_service,
)
from benchmarks.soak.spec import FAULT_RATES, SoakReport, SoakSpec
from benchmarks.soak_objectives import plan
from tests.support.fault_proxy import FaultProxy, RandomFaults
from tests.support.postgres import PostgresCluster
from tests.support.service_process import ServiceProcess


@dataclass(frozen=True)
class PostgresSoakSpec:
    budget: int
    wall_target_s: float
    workers: int = 16
    #: One coordinator per entry (the chaos row's objectives).
    kinds: tuple[str, ...] = ("async", "subprocess", "async")
    #: Service processes on the one database.
    services: int = 2
    timeout_s: float = 1.5
    seed: int = 6
    #: Progress fractions at which chaos strikes, in order: "service" kills the next
    #: service process (round robin), "postgres" restarts the server with -m immediate.
    chaos: tuple[tuple[float, str], ...] = (
        (0.20, "service"),
        (0.45, "postgres"),
        (0.70, "service"),
    )

    def as_soak_spec(self) -> SoakSpec:
        """The chaos row's spec, for its coordinator config (`write_config`)."""
        fields = ("budget", "wall_target_s", "workers", "kinds", "timeout_s", "seed")
        return SoakSpec(**{name: getattr(self, name) for name in fields})


FULL_POSTGRES = PostgresSoakSpec(budget=2000, wall_target_s=900.0)
#: Larger than the chaos row's quick budget: the other service keeps the run going while
#: one restarts (seconds: hundreds of observations), and the second kill waits for that
#: restart; at 150 the run could be over before it.
QUICK_POSTGRES = PostgresSoakSpec(budget=300, wall_target_s=90.0)


@dataclass
class ServiceSlot:
    """One service process of the row, restartable on its port; `launches` keeps every
    process it ran (their log tails are written to the logs folder at the end)."""

    index: int
    db_url: str
    port: int
    seed: int
    marker: Path
    launches: list[ServiceProcess]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def current(self) -> ServiceProcess:
        return self.launches[-1]

    def start(self, *, attempts: int = 40) -> None:
        """On exactly `port` (`start_service`). The PostgreSQL URL names no folder: the
        soak's folder goes in the environment, for the leftover check."""
        self.launches.append(
            start_service(
                self.db_url,
                self.port,
                self.seed,
                attempts=attempts,
                env={"SOAK_SERVICE_FOLDER": str(self.marker)},
            )
        )

    def is_running(self) -> bool:
        proc = self.current.proc if self.launches else None
        return proc is not None and proc.poll() is None


async def run_postgres_soak(
    spec: PostgresSoakSpec, folder: Path, *, say: Any = print
) -> SoakReport:
    """Run the PostgreSQL row in `folder` (absolute; it names every process the row
    starts, the PostgreSQL server's aside) and check it."""
    report = SoakReport()
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cluster = await anyio.to_thread.run_sync(lambda: PostgresCluster.start(durable=True))
    services: list[ServiceSlot] = []
    proxies: dict[tuple[int, int], FaultProxy] = {}
    coordinators: list[CoordinatorProcess] = []
    try:
        db_url = await anyio.to_thread.run_sync(cluster.create_database, "soak")
        for index in range(spec.services):
            slot = ServiceSlot(
                index, db_url, free_port(), spec.seed * 10 + index, folder / f"s{index}.unused", []
            )
            await anyio.to_thread.run_sync(slot.start)
            services.append(slot)
        urls = [s.url for s in services]
        async with direct_client(urls[0]) as client:
            body = experiment_body(spec.budget, spec.workers * len(spec.kinds))
            experiment_id = (await client.create_experiment(body)).id
        for index, kind in enumerate(spec.kinds):
            order = [(index + k) % spec.services for k in range(spec.services)]
            for service in order:
                plan_ = RandomFaults(FAULT_RATES, seed=spec.seed * 100 + index * 10 + service)
                proxy = FaultProxy(urls[service], plan=plan_, latency_s=0.5, retry_after="1")
                await proxy.__aenter__()
                proxies[index, service] = proxy
            coordinators.append(
                soak_coordinator(
                    folder,
                    index,
                    kind=kind,
                    spec=spec.as_soak_spec(),
                    # `service.url` takes a comma-separated list, as `--api-url` does.
                    url=",".join(proxies[index, s].url for s in order),
                    name=f"pg-soak-{index}",
                    experiment_id=experiment_id,
                    logs=logs,
                )
            )
        say(f"postgres soak: experiment {experiment_id}, budget {spec.budget}, services {urls}")
        started = time.monotonic()
        for coordinator in coordinators:
            coordinator.start()
        deadline = started + spec.wall_target_s * 1.5
        struck = await _unleash_chaos(
            spec, cluster, services, coordinators, experiment_id, deadline, say
        )
        wall_s = time.monotonic() - started
        for coordinator in coordinators:
            if coordinator.poll() is None:  # past the deadline: a hang, and a failed row
                coordinator.kill()
            else:
                coordinator.exit_codes.append(coordinator.poll() or 0)
        await _check(spec, report, folder, services, experiment_id, coordinators, wall_s)
        _add_chaos_rows(spec, report, struck, services, proxies, logs)
    finally:
        for proxy in proxies.values():
            await proxy.aclose()
        for coordinator in coordinators:
            if coordinator.proc is not None and coordinator.poll() is None:
                coordinator.kill()
        for slot in services:
            if slot.is_running():
                try:
                    slot.current.terminate()
                except subprocess.TimeoutExpired:
                    slot.current.kill()
        _write_service_logs(services, logs)
        if not report.ok:
            report.details["postgres_log_tail"] = cluster.log_tail(60)
        # Shielded (a test's timeout must not leak the server); pg_ctl has its own bound.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(cluster.stop)
    # Checked after the services have stopped: they name the folder too.
    leftovers = processes_naming(str(folder))
    report.add("postgres: processes of the run alive", len(leftovers), "0", not leftovers)
    if leftovers:
        report.details["leftovers"] = [" ".join(p.cmdline()) for p in leftovers]
        kill_all(leftovers)
    return report


async def _unleash_chaos(
    spec: PostgresSoakSpec,
    cluster: PostgresCluster,
    services: list[ServiceSlot],
    coordinators: list[CoordinatorProcess],
    experiment_id: str,
    deadline: float,
    say: Any,
) -> Counter[str]:
    """Strike as the progress passes each fraction of `spec.chaos`, until the
    coordinators are done or `deadline` (monotonic) passes.

    A killed service comes back in a task of its own, not in this loop: the other one
    keeps the run going meanwhile (a restart takes seconds, hundreds of observations at
    full speed), and the next strike must still come at its fraction; the server restart
    may so hit a service while it starts, which then fails and is started again. The next
    kill waits until every service is up: one service process is down at a time.
    Returns the strikes made, by target."""
    pending = list(spec.chaos)
    struck: Counter[str] = Counter()
    async with anyio.create_task_group() as tg:
        while any(c.poll() is None for c in coordinators) and time.monotonic() < deadline:
            await anyio.sleep(0.2)
            if not pending:
                continue
            count = await _observed_count(
                [s.url for s in services if s.is_running()], experiment_id
            )
            if count is None or count < pending[0][0] * spec.budget:
                continue
            target = pending[0][1]
            if target == "service":
                if not all(s.is_running() for s in services):
                    continue  # the last one killed is still coming back
                slot = services[struck["service"] % len(services)]
                slot.current.kill()
                say(f"  kill -9 service {slot.index} at {count} observations")
                tg.start_soon(_restart, slot)
            elif target == "postgres":
                say(f"  pg_ctl restart -m immediate at {count} observations")
                await anyio.to_thread.run_sync(cluster.restart_immediate)
            struck[target] += 1
            pending.pop(0)
    return struck


async def _restart(slot: ServiceSlot) -> None:
    await anyio.sleep(0.3)
    await anyio.to_thread.run_sync(slot.start)


async def _observed_count(urls: list[str], experiment_id: str) -> int | None:
    """The progress as the first service that answers sees it (the server may be down)."""
    for url in urls:
        count = await observed_count(url, experiment_id)
        if count is not None:
            return count
    return None


async def _check(
    spec: PostgresSoakSpec,
    report: SoakReport,
    folder: Path,
    services: list[ServiceSlot],
    experiment_id: str,
    coordinators: list[CoordinatorProcess],
    wall_s: float,
) -> None:
    url = next((s.url for s in services if s.is_running()), services[0].url)
    observations = await check_observations(
        report, folder, url, experiment_id, spec.budget, prefix="postgres: "
    )
    final_codes = [c.exit_codes[-1] if c.exit_codes else None for c in coordinators]
    report.add(
        "postgres: final coordinator exit codes",
        final_codes,
        "all 0",
        final_codes == [0] * len(coordinators),
    )
    planned = 0.0
    for o in observations:
        fate, sleep_s = plan(float(o.assignments["x"]), float(o.assignments["y"]))
        planned += spec.timeout_s if fate == "hang" else sleep_s
    ideal_s = planned / (spec.workers * len(spec.kinds))
    report.add(
        "postgres: wall time s (ideal s, ratio)",
        f"{wall_s:.1f} ({ideal_s:.1f}, {wall_s / ideal_s:.1f}x)" if ideal_s else f"{wall_s:.1f}",
        f"< {spec.wall_target_s:.0f}",
        wall_s < spec.wall_target_s,
    )
    report.details.update(
        wall_s=wall_s,
        ideal_s=ideal_s,
        exit_codes={c.index: c.exit_codes for c in coordinators},
        failed=sum(1 for o in observations if o.failed),
    )


def _add_chaos_rows(
    spec: PostgresSoakSpec,
    report: SoakReport,
    struck: Counter[str],
    services: list[ServiceSlot],
    proxies: dict[tuple[int, int], FaultProxy],
    logs: Path,
) -> None:
    planned = Counter(target for _, target in spec.chaos)
    report.add(
        "postgres: kill -9 service / pg_ctl restart -m immediate",
        f"{struck['service']} / {struck['postgres']}",
        f"{planned['service']} / {planned['postgres']}",
        struck == planned,
    )
    forwarded = [
        sum(p.forwarded for (_, s), p in proxies.items() if s == i) for i in range(len(services))
    ]
    events = _coordinator_events(logs)
    report.add(
        "postgres: requests answered per service (failovers)",
        f"{' / '.join(map(str, forwarded))} ({events['service_failover']})",
        "information",
        True,
    )
    # A suggestion deleted at a run's end was an orphan (made by a request its client
    # took for failed) that held a budget slot: the budget then ends short by one.
    deleted = {k.split(":", 1)[1]: n for k, n in events.items() if k.startswith("deleted:")}
    report.add(
        "postgres: suggestions deleted by the coordinators (why)",
        f"{sum(deleted.values())} {deleted}" if deleted else "0",
        "information",
        True,
    )
    report.details["faults"] = {
        f"coordinator-{c}-service-{s}": dict(p.injected) | {"forwarded": p.forwarded}
        for (c, s), p in proxies.items()
    }
    report.details.update(
        forwarded_per_service=forwarded, coordinator_events=dict(events), deleted=deleted
    )


def _coordinator_events(logs: Path) -> Counter[str]:
    """Events of every coordinator's log, by name; `suggestion_deleted` as `deleted:<why>`."""
    events: Counter[str] = Counter()
    for path in logs.glob("coordinator-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            name = str(event.get("event"))
            events[f"deleted:{event.get('why')}" if name == "suggestion_deleted" else name] += 1
    return events


def _write_service_logs(services: list[ServiceSlot], logs: Path) -> None:
    """The last lines each service process logged, one file per launch (for a diagnosis)."""
    for slot in services:
        for launch, service in enumerate(slot.launches, start=1):
            path = logs / f"service-{slot.index}-{launch}.log"
            path.write_text("".join(service.log_tail))
