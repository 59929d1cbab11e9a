"""GPUs and CPU cores shared out among running evaluations: each holds its own, none shares.

The pool holds sets of resources made once (`plan_resources`): the GPU ids cut into groups
of `gpus_per_evaluation` and the orchestrator's cores (`os.sched_getaffinity(0)`) into
groups of `cpus_per_evaluation`, group i of each making set i. An evaluation takes a whole
set and gives it back when it ends, however it ends (returned, raised, cancelled, timed
out): the set goes back in the `finally` of `hold`, after the worker killed and reaped what
the evaluation started. Sets come back in the order they were given back, so the GPUs
rotate. A `hold` waits while every set is taken.

```python
pool = ResourcePool.for_settings(settings)   # None: the config shares nothing out
async with pool.hold() as held:               # Resources(gpus=(2, 3), cpus=(1,))
    evaluation = dataclasses.replace(evaluation, gpus=held.gpus, cpus=held.cpus)
    outcome = await worker.evaluate(evaluation)
```

What a worker does with what an evaluation holds (`Evaluation.gpus`, `Evaluation.cpus`):
`evaluation_env` gives the variables a process needs (`CUDA_VISIBLE_DEVICES`,
`SIGOPT_GPUS`, the BLAS/OpenMP thread counts), `pinned_thread` pins a process before it
runs any of its code (it inherits the mask of the thread that starts it), `pin_process`
re-pins a running one (a pool process, all its threads). `detect_gpus` resolves
`workers.gpus: auto`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import anyio

from workers.base import InvalidSetting, WorkerSettings

__all__ = [
    "CUDA_ENV",
    "GPUS_ENV",
    "NO_RESOURCES",
    "THREAD_VARS",
    "NullResourcePool",
    "ResourcePool",
    "Resources",
    "available_cores",
    "detect_gpus",
    "evaluation_env",
    "ids_text",
    "pin_process",
    "pinned_thread",
    "plan_resources",
]

CUDA_ENV = "CUDA_VISIBLE_DEVICES"
#: The same ids under our own name, for programs that pick devices themselves.
GPUS_ENV = "SIGOPT_GPUS"
#: Set to the evaluation's core count unless the user set them (`workers.env`): BLAS and
#: OpenMP start one thread per core of the *machine* otherwise, not of the affinity mask.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: How long `nvidia-smi -L` may take before `auto` gives up on it.
NVIDIA_SMI_TIMEOUT_S = 10.0
_NVIDIA_SMI_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)


def ids_text(ids: Sequence[int]) -> str:
    """`0,1`: how ids are written in the environment, a command and metadata."""
    return ",".join(str(i) for i in ids)


@dataclass(frozen=True)
class Resources:
    """One set: the GPU ids and the CPU cores an evaluation holds alone (empty: none
    assigned, the evaluation sees what the orchestrator sees)."""

    gpus: tuple[int, ...] = ()
    cpus: tuple[int, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.gpus or self.cpus)

    def __str__(self) -> str:
        parts = [f"GPUs {ids_text(self.gpus)}"] if self.gpus else []
        parts += [f"cores {ids_text(self.cpus)}"] if self.cpus else []
        return ", ".join(parts) or "no GPUs or cores of its own"


NO_RESOURCES = Resources()


def evaluation_env(
    gpus: Sequence[int], cpus: Sequence[int], user_env: Mapping[str, str]
) -> dict[str, str]:
    """The variables a process running the evaluation gets, on top of its environment:
    `CUDA_VISIBLE_DEVICES` and `SIGOPT_GPUS` when it holds GPUs, and each of `THREAD_VARS`
    set to its core count when it is pinned, unless `user_env` (`workers.env`) sets it."""
    env: dict[str, str] = {}
    if gpus:
        env[CUDA_ENV] = env[GPUS_ENV] = ids_text(gpus)
    if cpus:
        env.update({var: str(len(cpus)) for var in THREAD_VARS if var not in user_env})
    return env


def available_cores() -> tuple[int, ...]:
    """The cores this process may run on (its affinity mask, not the machine's count:
    a container, `taskset` or a batch scheduler may have narrowed it)."""
    return tuple(sorted(os.sched_getaffinity(0)))


def _groups(ids: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """`ids` cut into whole groups of `size`, in order (GPUs 0,1 and 2,3 pair up the way
    NVLink usually does); what is left over is never handed out."""
    return [tuple(ids[i : i + size]) for i in range(0, len(ids) - size + 1, size)]


def plan_resources(
    settings: WorkerSettings, cores: Sequence[int] | None = None
) -> tuple[Resources, ...]:
    """The sets to share out under `settings` (none when it asks for neither GPUs nor
    pinned cores). `cores` defaults to `available_cores()`.

    Raises `InvalidSetting` naming the key (as spelled under `workers`) and the numbers:
    a per-evaluation count larger than what there is, or `count` evaluations at once more
    than the sets allow.
    """
    gpus, per_gpu = settings.gpus, settings.gpus_per_evaluation
    per_cpu = settings.cpus_per_evaluation
    if len(set(gpus)) != len(gpus):
        raise InvalidSetting("gpus", f"lists a GPU twice: {list(gpus)}")
    if per_gpu is not None and not gpus:
        raise InvalidSetting("gpus_per_evaluation", "needs `gpus`: the GPU ids to share out")
    per_gpu = per_gpu or 1
    if gpus and per_gpu > len(gpus):
        raise InvalidSetting(
            "gpus_per_evaluation", f"is {per_gpu} but `gpus` lists {len(gpus)} GPU(s)"
        )
    cores = available_cores() if cores is None else tuple(cores)
    if per_cpu is not None and per_cpu > len(cores):
        raise InvalidSetting(
            "cpus_per_evaluation", f"is {per_cpu} but this process may use {len(cores)} core(s)"
        )
    limits: list[tuple[int, str]] = []
    gpu_groups = _groups(gpus, per_gpu) if gpus else []
    if gpus:
        limits.append((len(gpu_groups), f"{len(gpus)} GPUs / {per_gpu} per evaluation"))
    cpu_groups = _groups(cores, per_cpu) if per_cpu else []
    if per_cpu:
        limits.append((len(cpu_groups), f"{len(cores)} cores / {per_cpu} per evaluation"))
    if not limits:
        return ()
    capacity, why = min(limits)
    if settings.count > capacity:
        raise InvalidSetting("count", f"is {settings.count} but {why} allow {capacity}")
    return tuple(
        Resources(
            gpus=gpu_groups[i] if gpu_groups else (),
            cpus=cpu_groups[i] if cpu_groups else (),
        )
        for i in range(capacity)
    )


class ResourcePool:
    """Hands out `sets` (`plan_resources`), one per running evaluation; see the module
    docstring. `capacity` evaluations hold a set at once; `free` says how many sets are
    free right now. Not thread-safe: one event loop uses it."""

    def __init__(self, sets: Sequence[Resources]) -> None:
        if not sets:
            raise ValueError("a ResourcePool needs at least one set (see NullResourcePool)")
        self._free: deque[Resources] = deque(sets)
        self._semaphore = anyio.Semaphore(len(sets))
        self.capacity: int | None = len(sets)

    @classmethod
    def for_settings(cls, settings: WorkerSettings) -> ResourcePool | NullResourcePool:
        """The pool `settings` ask for (`NullResourcePool` when they share nothing out).
        Raises `InvalidSetting` as `plan_resources` does."""
        sets = plan_resources(settings)
        return cls(sets) if sets else NullResourcePool()

    @property
    def free(self) -> int:
        return len(self._free)

    def __repr__(self) -> str:
        upcoming = f" next: {self._free[0]}" if self._free else ""
        return f"<ResourcePool free={self.free}/{self.capacity}{upcoming}>"

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[Resources]:
        """A free set, held for the block and given back when it exits however it exits.
        Waits while none is free; cancelling the wait takes nothing."""
        await self._semaphore.acquire()
        # No await between the semaphore and the deque: a token always finds its set.
        held = self._free.popleft()
        try:
            yield held
        finally:
            self._free.append(held)
            self._semaphore.release()


class NullResourcePool:
    """The pool of a run that shares nothing out: every evaluation holds `NO_RESOURCES`
    at once, as many as like."""

    capacity: int | None = None
    free = 0

    def __repr__(self) -> str:
        return "<NullResourcePool>"

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[Resources]:
        yield NO_RESOURCES


@contextlib.contextmanager
def pinned_thread(cpus: Collection[int]) -> Iterator[None]:
    """Pin the calling thread to `cpus` for the block (nothing when empty).

    A process inherits the affinity of the thread that starts it, so a command started in
    this block is pinned before its first instruction, with no `preexec_fn` (unsafe with
    threads, and it rules out vfork). The mask is the calling thread's only (`pid` 0 is
    the thread on Linux), and restored however the block exits. The block must not await:
    another task on this thread would start its command with this mask.
    """
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_process(cpus: Collection[int]) -> None:
    """Pin every thread of this process to `cpus`: the threads a library started
    earlier (BLAS, OpenMP) keep their own masks otherwise. A thread that ends meanwhile
    is skipped."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def _cuda_visible_ids(value: str) -> tuple[int, ...]:
    """`CUDA_VISIBLE_DEVICES` as ids. CUDA stops at the first entry that is not a valid
    index (`-1` hides every GPU); entries given as UUIDs are refused: name the GPUs by
    index in `workers.gpus` instead."""
    ids: list[int] = []
    for entry in (e.strip() for e in value.split(",")):
        if entry.startswith(("GPU-", "MIG-")):
            raise ValueError(
                f"{CUDA_ENV}={value!r} names GPUs by UUID: list their indices in `gpus`"
            )
        if not entry.isdigit():
            break
        ids.append(int(entry))
    return tuple(ids)


def detect_gpus(environ: Mapping[str, str], nvidia_smi: str = "nvidia-smi") -> tuple[int, ...]:
    """`workers.gpus: auto`: the ids in `CUDA_VISIBLE_DEVICES` if it is set (empty: it
    hides every GPU), else those `nvidia-smi -L` lists, else none. Blocking (it may run
    `nvidia-smi`); raises `ValueError` for a `CUDA_VISIBLE_DEVICES` of UUIDs."""
    if CUDA_ENV in environ:
        return _cuda_visible_ids(environ[CUDA_ENV])
    program = shutil.which(nvidia_smi, path=environ.get("PATH", os.defpath))
    if program is None:
        return ()
    try:
        listing = subprocess.Popen(
            [program, "-L"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(environ),
            start_new_session=True,
        )
    except OSError:
        return ()
    with listing:
        try:
            out, _ = listing.communicate(timeout=NVIDIA_SMI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # A driver that does not answer means no GPU this run can use.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(listing.pid, signal.SIGKILL)
            listing.communicate()
            return ()
    if listing.returncode != 0:
        return ()
    return tuple(int(i) for i in _NVIDIA_SMI_LINE.findall(out))
