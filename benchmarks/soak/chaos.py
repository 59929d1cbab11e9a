"""The chaos soak: three coordinators through fault proxies, kill -9s, then the checks."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

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
from sigopt_service.models import Observation
from tests.support.fault_proxy import FaultProxy, RandomFaults


async def run_soak(spec: SoakSpec, folder: Path, *, say: Any = print) -> SoakReport:
    """Run the chaos soak in `folder` (absolute; it names every process the soak starts)
    and check it."""
    report = SoakReport()
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    db = folder / "service.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = await anyio.to_thread.run_sync(start_service, db, port, spec.seed)
    coordinators: list[CoordinatorProcess] = []
    kills: Counter[str] = Counter()
    proxies: list[FaultProxy] = []
    started = time.monotonic()
    try:
        async with direct_client(url) as client:
            body = experiment_body(spec.budget, spec.workers * len(spec.kinds))
            experiment_id = (await client.create_experiment(body)).id
        for index, kind in enumerate(spec.kinds):
            plan_ = RandomFaults(FAULT_RATES, seed=spec.seed * 100 + index)
            proxy = FaultProxy(url, plan=plan_, latency_s=0.5, retry_after="1")
            await proxy.__aenter__()
            proxies.append(proxy)
            coordinators.append(
                soak_coordinator(
                    folder,
                    index,
                    kind=kind,
                    spec=spec,
                    url=proxy.url,
                    name=f"soak-{index}",
                    experiment_id=experiment_id,
                    logs=logs,
                )
            )
        say(f"soak: experiment {experiment_id}, budget {spec.budget}, service {url}")
        started = time.monotonic()
        for coordinator in coordinators:
            coordinator.start()

        victim = coordinators[spec.victim]
        deadline = started + spec.wall_target_s * 1.5
        pending = list(spec.chaos)
        while any(c.poll() is None for c in coordinators) and time.monotonic() < deadline:
            await anyio.sleep(0.2)
            if not pending:
                continue
            count = await observed_count(url, experiment_id)
            if count is None or count < pending[0][0] * spec.budget:
                continue
            _, target = pending.pop(0)
            if target == "coordinator" and victim.poll() is None:
                victim.kill()
                kills["coordinator"] += 1
                say(f"  kill -9 coordinator {victim.index} at {count} observations")
                await anyio.sleep(0.3)
                victim.start()
            elif target == "service":
                service.kill()
                kills["service"] += 1
                say(f"  kill -9 service at {count} observations")
                await anyio.sleep(1.0)
                service = await anyio.to_thread.run_sync(start_service, db, port, spec.seed)
        wall_s = time.monotonic() - started
        for coordinator in coordinators:
            if coordinator.poll() is None:  # past the deadline: a hang, and a failed row
                coordinator.kill()
            else:
                coordinator.exit_codes.append(coordinator.poll() or 0)
        await check_soak(spec, report, folder, url, experiment_id, coordinators, kills, wall_s)
        report.details["faults"] = {
            f"coordinator-{i}": dict(p.injected) | {"forwarded": p.forwarded}
            for i, p in enumerate(proxies)
        }
    finally:
        for proxy in proxies:
            await proxy.aclose()
        for coordinator in coordinators:
            if coordinator.proc is not None and coordinator.poll() is None:
                coordinator.kill()
        if service.proc is not None and service.proc.poll() is None:
            service.terminate()
    # Checked after the service has stopped: it names the folder too.
    leftovers = processes_naming(str(folder))
    report.add("processes of the run alive", len(leftovers), "0", not leftovers)
    if leftovers:
        report.details["leftovers"] = [" ".join(p.cmdline()) for p in leftovers]
        kill_all(leftovers)
    return report


def finished_lines(folder: Path) -> list[dict[str, Any]]:
    lines = []
    for path in sorted(folder.glob("finished-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


async def check_soak(
    spec: SoakSpec,
    report: SoakReport,
    folder: Path,
    url: str,
    experiment_id: str,
    coordinators: list[CoordinatorProcess],
    kills: Counter[str],
    wall_s: float,
) -> None:
    observations = await check_observations(report, folder, url, experiment_id, spec.budget)
    failed = [o for o in observations if o.failed]
    final_codes = [c.exit_codes[-1] if c.exit_codes else None for c in coordinators]
    report.add("final coordinator exit codes", final_codes, "all 0", final_codes == [0] * 3)
    report.add(
        "kill -9: coordinator / service",
        f"{kills['coordinator']} / {kills['service']}",
        "2 / 2",
        kills["coordinator"] == 2 and kills["service"] == 2,
    )
    workers = spec.workers * len(spec.kinds)
    planned = 0.0
    for o in observations:
        fate, sleep_s = plan(float(o.assignments["x"]), float(o.assignments["y"]))
        planned += spec.timeout_s if fate == "hang" else sleep_s
    ideal_s = planned / workers
    report.add(
        "wall time s (ideal s, ratio)",
        f"{wall_s:.1f} ({ideal_s:.1f}, {wall_s / ideal_s:.1f}x)" if ideal_s else f"{wall_s:.1f}",
        f"< {spec.wall_target_s:.0f}",
        wall_s < spec.wall_target_s,
    )
    report.details.update(
        wall_s=wall_s,
        ideal_s=ideal_s,
        exit_codes={c.index: c.exit_codes for c in coordinators},
        failed=len(failed),
    )


async def check_observations(
    report: SoakReport,
    folder: Path,
    url: str,
    experiment_id: str,
    budget: int,
    *,
    prefix: str = "",
) -> list[Observation]:
    """The checks every soak row makes of its experiment once the run is over: exactly
    `budget` observations, none duplicated, lost or left open, every failure with its
    reason (rows labelled `prefix`...; `lost` and `failure_reasons` in the details).
    Returns the observations, for the row's own checks."""
    async with direct_client(url) as client:
        observations = await client.observations(experiment_id)
        open_now = await client.open_suggestions(experiment_id)
    count = len(observations)
    report.add(f"{prefix}observations", count, f"== {budget}", count == budget)
    per_suggestion = Counter(o.suggestion for o in observations)
    duplicated = sum(1 for n in per_suggestion.values() if n > 1)
    report.add(f"{prefix}duplicated (suggestions observed twice)", duplicated, "0", not duplicated)
    lost = lost_evaluations(finished_lines(folder), observations)
    report.details["lost"] = lost[:20]
    report.add(f"{prefix}lost (finished, not observed)", len(lost), "0", not lost)
    report.add(f"{prefix}open suggestions", len(open_now), "0", not open_now)
    failed = [o for o in observations if o.failed]
    no_reason = [o.id for o in failed if not (o.metadata or {}).get("failure_reason")]
    reasons = Counter(str((o.metadata or {}).get("failure_reason")) for o in failed)
    report.details["failure_reasons"] = dict(reasons)
    report.add(
        f"{prefix}failed observations without failure_reason (of {len(failed)})",
        len(no_reason),
        "0",
        not no_reason,
    )
    return observations


def lost_evaluations(lines: list[dict[str, Any]], observations: list[Observation]) -> list[str]:
    """Finished evaluations with no observation: subprocess ones by suggestion id, async
    ones by their assignments (see the module docstring)."""
    observed_ids = {o.suggestion for o in observations}
    observed_points = {(o.assignments.get("x"), o.assignments.get("y")) for o in observations}
    lost = []
    for line in lines:
        if line["kind"] == "subprocess":
            if line["suggestion"] not in observed_ids:
                lost.append(f"suggestion {line['suggestion']}")
        elif (line["x"], line["y"]) not in observed_points:
            lost.append(f"point x={line['x']} y={line['y']}")
    return sorted(set(lost))
