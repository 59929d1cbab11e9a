"""`make soak`: the chaos soak and the leak measurement (issue 4, parts 1 and 5).

```
python -m benchmarks.soak            # full: budget 2,000 and 10,000 no-op evaluations
python -m benchmarks.soak --quick    # budget 150 and 1,000 evaluations (under a minute)
```

**Chaos soak.** One standalone service (`python -m sigopt_service`, SQLite in a temp folder, a
fixed port so it can come back on it, `--allow-duplicate-observations` as sigopt-server
behaves: a duplicate is stored and counted, not refused with a 409 that would hide a
client that sent it), three coordinators (`python -m orchestrator run
CONFIG --log-format json`, each its own run name) on one experiment, 16 workers each: two
run the async objective, one the subprocess objective (`benchmarks/soak_objectives.py`:
0.05-0.3 s, 8% fail, 3% hang past the 1.5 s timeout). Each coordinator talks to the
service through its own `FaultProxy` injecting ~20% faults (500/502/503, 429 with
`Retry-After`, drops before and after forwarding, 0.5 s latency spikes), seeded. As the
experiment's progress passes fixed fractions, the subprocess coordinator is killed -9
twice and restarted with the same command, and the service is killed -9 twice and
restarted on the same database and port. At the end the API is checked:

- observations == budget; no suggestion with two observations; none open;
- none lost: every evaluation that finished (a line in the objectives' log) is observed:
  subprocess lines by suggestion id, async lines by assignments (the async objective is
  not told its suggestion id; two random doubles identify a point). An evaluation whose
  coordinator was killed before it could report is re-run by the restarted one (it
  adopts its open suggestions), so its suggestion is still observed;
- every failed observation carries `failure_reason`; every final coordinator run exits 0;
- no process of the run alive (psutil: anything whose command line or environment names
  the soak's folder);
- wall time against the ideal: the planned evaluation time of the observed points (hangs
  at the timeout) spread over all 48 workers, with no overhead and no chaos.

**Leaks.** One coordinator process (async no-op objective, 16 workers, random engine,
standalone service) runs 10,000 evaluations while its open file descriptors, child
processes and RSS are sampled twenty times a second; growth after a warm-up must stay
within `LeakBounds` (fds <= 10, RSS <= 50 MB, no child process). A second run does the
same with 2,000 `/bin/echo` subprocess evaluations (8 workers: at most 8 children).

Prints one table, writes `benchmarks/results/soak.json`, exits 1 if a row misses its target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psutil
import yaml

from benchmarks.common import markdown_table
from benchmarks.soak_objectives import plan
from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.errors import OrchestratorError
from sigopt_service.models import Observation
from tests.support.fault_proxy import FaultKind, FaultProxy, RandomFaults
from tests.support.service_process import ServiceProcess

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "soak.json"
OBJECTIVES_SCRIPT = REPO / "benchmarks" / "soak_objectives.py"

#: ~20% of the requests through each proxy get a fault.
FAULT_RATES: dict[FaultKind, float] = {
    "error_500": 0.03,
    "error_502": 0.03,
    "error_503": 0.03,
    "throttle_429": 0.03,
    "drop_before": 0.03,
    "drop_after": 0.03,
    "latency": 0.02,
}


@dataclass(frozen=True)
class SoakSpec:
    budget: int
    wall_target_s: float
    workers: int = 16
    #: One coordinator per entry; the kill -9 target is `victim`.
    kinds: tuple[str, ...] = ("async", "subprocess", "async")
    victim: int = 1
    timeout_s: float = 1.5
    seed: int = 4
    #: Progress fractions (observations / budget) at which chaos strikes, in order.
    chaos: tuple[tuple[float, str], ...] = (
        (0.15, "coordinator"),
        (0.30, "service"),
        (0.50, "coordinator"),
        (0.70, "service"),
    )


FULL = SoakSpec(budget=2000, wall_target_s=900.0)
QUICK = SoakSpec(budget=150, wall_target_s=60.0)


@dataclass(frozen=True)
class LeakBounds:
    """One leak run and its bounds: growth is measured from the first sample past
    `warmup` observations (imports, caches and pools filled) to the largest sample after."""

    evaluations: int
    warmup: int
    kind: str = "async"
    workers: int = 16
    fd_growth: int = 10
    rss_growth_mb: float = 50.0
    #: Most child processes alive at a sample: none for async, one per worker at most.
    children: int = 0


FULL_LEAKS = (
    LeakBounds(evaluations=10_000, warmup=1_000),
    LeakBounds(evaluations=2_000, warmup=300, kind="subprocess", workers=8, children=8),
)
QUICK_LEAKS = (
    LeakBounds(evaluations=1_000, warmup=200),
    LeakBounds(evaluations=600, warmup=100, kind="subprocess", workers=8, children=8),
)


@dataclass(frozen=True)
class Row:
    check: str
    measured: object
    target: str
    ok: bool


@dataclass
class SoakReport:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def add(self, check: str, measured: object, target: str, ok: bool) -> None:
        self.rows.append(Row(check, measured, target, ok))


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(db: Path, port: int, seed: int, *, attempts: int = 40) -> ServiceProcess:
    """The service on exactly `port` (it must come back where the proxies point),
    retrying while the port is still held (a socket of the killed process closing)."""
    last: Exception | None = None
    for _ in range(attempts):
        service = ServiceProcess(
            db, "--port", str(port), "--seed", str(seed), "--allow-duplicate-observations"
        )
        try:
            service.start()
            return service
        except RuntimeError as exc:  # exited early: the port is not free yet
            last = exc
            time.sleep(0.25)
    raise RuntimeError(f"service could not bind 127.0.0.1:{port}") from last


@dataclass
class CoordinatorProcess:
    """`python -m orchestrator run CONFIG` as a user runs it; restartable with the same
    command (its run folder holds the resume state)."""

    index: int
    config: Path
    experiment_id: str
    env: dict[str, str]
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    launches: int = 0
    pids: list[int] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.launches += 1
        log = self.logs / f"coordinator-{self.index}-{self.launches}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "orchestrator",
                    "run",
                    str(self.config),
                    "--experiment-id",
                    self.experiment_id,
                    "--log-format",
                    "json",
                ],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.pids.append(self.proc.pid)

    def kill(self) -> None:
        """kill -9 of the coordinator's process group; its evaluations, each in its own
        session, are orphaned as after a real crash."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.exit_codes.append(self.proc.wait(timeout=30))

    def poll(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def log_tail(self, chars: int = 3000) -> str:
        log = self.logs / f"coordinator-{self.index}-{self.launches}.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def write_config(
    path: Path, *, kind: str, spec: SoakSpec, url: str, run_dir: Path, name: str
) -> None:
    workers: dict[str, Any] = {"kind": kind, "count": spec.workers, "timeout": spec.timeout_s}
    if kind == "subprocess":
        # -S: no site import; the objective needs only the stdlib and starts faster.
        workers["command"] = [sys.executable, "-S", str(OBJECTIVES_SCRIPT), "{x}", "{y}"]
        workers["max_retries"] = 2
    else:
        workers["function"] = "benchmarks.soak_objectives:evaluate"
    config = {
        "service": {"url": url},
        "workers": workers,
        # A service restart takes ~1-2 s on top of ~20% faults: retries must outlast it.
        "retry": {
            "max_attempts": 60,
            "max_total_s": 180,
            "initial_backoff_s": 0.05,
            "max_backoff_s": 2,
        },
        # 11% of evaluations fail on purpose: the breaker must not take that for a disaster.
        "failures": {"max_consecutive": 40, "max_fraction": 0.5, "min_finished": 50},
        "timeouts": {"connect_s": 5, "request_s": 15, "drain_s": 30, "kill_grace_s": 1},
        "logging": {"format": "json", "level": "info"},
        "run": {"name": name, "dir": str(run_dir)},
    }
    path.write_text(yaml.safe_dump(config))


def processes_naming(marker: str) -> list[psutil.Process]:
    """Live processes (not zombies, not this one) whose command line or environment
    names `marker`. The environment catches what the command line does not: evaluation
    processes run a script outside the folder but inherit `SOAK_LOG`, even re-parented."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            named = any(marker in part for part in proc.info["cmdline"] or ())
            if named or any(marker in value for value in proc.environ().values()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def kill_all(processes: Sequence[psutil.Process]) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


# -- the chaos soak ----------------------------------------------------------------------


def experiment_body(budget: int, workers: int) -> dict[str, Any]:
    return {
        "name": "chaos soak",
        "type": "random",
        "parameters": [
            {"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
            {"name": "y", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
        ],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "observation_budget": budget,
        "parallel_bandwidth": workers,
    }


def direct_client(url: str) -> ServiceClient:
    """The soak's own view of the service: no proxy, few quick retries."""
    policy = RetryPolicy(max_attempts=3, max_total_s=5, initial_backoff_s=0.05, max_backoff_s=1)
    return ServiceClient(url, retry=policy, connect_timeout_s=2, request_timeout_s=10)


async def observed_count(url: str, experiment_id: str) -> int | None:
    try:
        async with direct_client(url) as client:
            experiment = await client.get_experiment(experiment_id)
    except OrchestratorError:
        return None  # the service is down: that is the point
    return experiment.progress.observation_count if experiment.progress else 0


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
            config = folder / f"coordinator-{index}.yaml"
            write_config(
                config,
                kind=kind,
                spec=spec,
                url=proxy.url,
                run_dir=folder / "runs",
                name=f"soak-{index}",
            )
            env = {
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "SOAK_LOG": str(folder / f"finished-{index}.jsonl"),
            }
            coordinators.append(CoordinatorProcess(index, config, experiment_id, env, logs))
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
    async with direct_client(url) as client:
        observations = await client.observations(experiment_id)
        open_now = await client.open_suggestions(experiment_id)
    budget = spec.budget
    report.add("observations", len(observations), f"== {budget}", len(observations) == budget)
    per_suggestion = Counter(o.suggestion for o in observations)
    duplicated = sum(1 for n in per_suggestion.values() if n > 1)
    report.add("duplicated (suggestions observed twice)", duplicated, "0", duplicated == 0)
    lost = lost_evaluations(finished_lines(folder), observations)
    report.details["lost"] = lost[:20]
    report.add("lost (finished, not observed)", len(lost), "0", not lost)
    report.add("open suggestions", len(open_now), "0", not open_now)
    failed = [o for o in observations if o.failed]
    no_reason = [o.id for o in failed if not (o.metadata or {}).get("failure_reason")]
    reasons = Counter(str((o.metadata or {}).get("failure_reason")) for o in failed)
    report.details["failure_reasons"] = dict(reasons)
    report.add(
        f"failed observations without failure_reason (of {len(failed)})",
        len(no_reason),
        "0",
        not no_reason,
    )
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


# -- leaks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    observed: int
    fds: int
    children: int
    rss_mb: float


def sample(proc: psutil.Process, observed: int) -> Sample | None:
    """None once the process is gone or exiting (a zombie has no fds and no memory)."""
    try:
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return Sample(
                observed,
                proc.num_fds(),
                len(proc.children(recursive=True)),
                proc.memory_info().rss / 2**20,
            )
    except psutil.NoSuchProcess:
        return None


def leak_workers(bounds: LeakBounds) -> dict[str, Any]:
    workers: dict[str, Any] = {"kind": bounds.kind, "count": bounds.workers}
    if bounds.kind == "subprocess":
        # The cheapest command there is: what remains is the worker's own machinery
        # (process group, evaluation folder, log files, reaping).
        workers["command"] = ["/bin/echo", '{{"value": 1}}']  # braces doubled: literal
    else:
        workers["function"] = "benchmarks.soak_objectives:noop"
    return workers


async def run_leak(bounds: LeakBounds, folder: Path, *, say: Any = print) -> SoakReport:
    """One coordinator process, `bounds.evaluations` no-op evaluations, sampled: its open
    file descriptors, child processes (recursive) and RSS, four times a second."""
    report = SoakReport()
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    service = await anyio.to_thread.run_sync(start_service, folder / "leak.db", free_port(), 1)
    try:
        async with direct_client(service.url) as client:
            body = experiment_body(bounds.evaluations, bounds.workers)
            experiment_id = (await client.create_experiment(body)).id
        config = folder / "leak.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "service": {"url": service.url},
                    "workers": leak_workers(bounds),
                    "logging": {"format": "json", "level": "warning"},
                    "run": {"name": "leak", "dir": str(folder / "runs")},
                }
            )
        )
        coordinator = CoordinatorProcess(0, config, experiment_id, dict(os.environ), folder)
        say(f"leak: {bounds.evaluations} {bounds.kind} evaluations")
        started = time.monotonic()
        coordinator.start()
        assert coordinator.proc is not None
        assert service.proc is not None
        proc = psutil.Process(coordinator.proc.pid)
        service_proc = psutil.Process(service.proc.pid)
        samples: list[Sample] = []
        service_samples: list[Sample] = []
        while coordinator.poll() is None:
            count = await observed_count(service.url, experiment_id)
            point = sample(proc, count or 0)
            if point is not None:
                samples.append(point)
            point = sample(service_proc, count or 0)
            if point is not None:
                service_samples.append(point)
            await anyio.sleep(0.05)
        wall_s = time.monotonic() - started
        code = coordinator.poll()
        async with direct_client(service.url) as client:
            observed = len(await client.observations(experiment_id))
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.terminate()
    name = f"leak ({bounds.kind}, {bounds.workers} workers)"
    report.add(
        f"{name}: evaluations (exit code), time",
        f"{observed} ({code}), {wall_s:.1f} s",
        f"== {bounds.evaluations} (0)",
        observed == bounds.evaluations and code == 0,
    )
    # Past warm-up and before the last evaluation: shutdown closes connections and files.
    warm = [s for s in samples if bounds.warmup <= s.observed < bounds.evaluations]
    if len(warm) < 2:
        report.add(f"{name}: samples after warm-up", len(warm), ">= 2", False)
        return report
    # Open fds move with the evaluations running at the instant of a sample (a
    # subprocess holds a few while it runs), so growth compares the floors of the first
    # and last quarter of the run after warm-up: a leak raises the floor.
    quarter = max(1, len(warm) // 4)
    first_floor = min(s.fds for s in warm[:quarter])
    last_floor = min(s.fds for s in warm[-quarter:])
    top_fds = max(s.fds for s in warm)
    fd_growth = last_floor - first_floor
    base_rss, top_rss = warm[0].rss_mb, max(s.rss_mb for s in warm)
    rss_growth = top_rss - base_rss
    children = max(s.children for s in samples)
    report.add(
        f"{name}: open fds growth after {bounds.warmup} (floor first/last quarter, max)",
        f"{fd_growth} ({first_floor}, {last_floor}, {top_fds})",
        f"<= {bounds.fd_growth}",
        fd_growth <= bounds.fd_growth,
    )
    report.add(
        f"{name}: RSS growth MB after {bounds.warmup} (at warm-up, max, last)",
        f"{rss_growth:.1f} ({base_rss:.1f}, {top_rss:.1f}, {warm[-1].rss_mb:.1f})",
        f"<= {bounds.rss_growth_mb:.0f}",
        rss_growth <= bounds.rss_growth_mb,
    )
    limit = bounds.children
    report.add(f"{name}: child processes (max)", children, f"<= {limit}", children <= limit)
    leftovers = processes_naming(str(folder))
    report.add(f"{name}: processes alive after", len(leftovers), "0", not leftovers)
    kill_all(leftovers)
    service_warm = [s for s in service_samples if bounds.warmup <= s.observed < bounds.evaluations]
    if len(service_warm) >= 2:
        # The service's own figures, for information: it stores every observation, so
        # some growth with their number is expected; its bounds are its owners' call.
        first, last = service_warm[0], service_warm[-1]
        report.add(
            f"{name}: service fds / RSS MB after {bounds.warmup} -> end (info)",
            f"{first.fds} -> {last.fds} / {first.rss_mb:.1f} -> {last.rss_mb:.1f}",
            "reported",
            True,
        )
    report.details[f"samples_{bounds.kind}"] = [
        asdict(s) for s in samples[:: max(1, len(samples) // 40)]
    ]
    return report


# -- entry point -------------------------------------------------------------------------


async def main_async(quick: bool) -> SoakReport:
    spec, leaks = (QUICK, QUICK_LEAKS) if quick else (FULL, FULL_LEAKS)
    report = SoakReport()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        root = Path(tmp).resolve()  # noqa: ASYNC240 - once, before anything runs
        soak = await run_soak(spec, root / "soak")
        report.rows += soak.rows
        report.details = {"spec": asdict(spec), "soak": soak.details, "leaks": {}}
        for bounds in leaks:
            leak = await run_leak(bounds, root / f"leak-{bounds.kind}")
            report.rows += leak.rows
            report.details["leaks"][bounds.kind] = {"bounds": asdict(bounds), **leak.details}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="budget 150, short leak runs")
    args = parser.parse_args(argv)
    # While the service is down the proxies answer 500; aiohttp would log each traceback.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    started = time.monotonic()
    report = anyio.run(main_async, args.quick)
    elapsed = time.monotonic() - started
    table = markdown_table(
        ["check", "measured", "target", "ok"],
        [[r.check, r.measured, r.target, r.ok] for r in report.rows],
    )
    print(table)
    print(f"\n{'quick' if args.quick else 'full'} soak: {elapsed:.0f} s in all")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "soak",
                "mode": "quick" if args.quick else "full",
                "elapsed_s": elapsed,
                "ok": report.ok,
                "rows": [asdict(r) for r in report.rows],
                "details": report.details,
            },
            indent=2,
            default=str,
        )
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
