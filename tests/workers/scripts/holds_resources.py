"""A command that records what it holds, for the resource tests.

`--records DIR --x X [--gpus G]`: writes `DIR/<pid>-start.json` at its start
(`CUDA_VISIBLE_DEVICES`, `SIGOPT_GPUS`, the `{gpus}` argument, its CPU affinity, the
thread counts, a monotonic timestamp: CLOCK_MONOTONIC is the same clock in every
process) and `DIR/<pid>-end.json` at its end. At its start it also looks through `/proc` for any
other live process of the same test (`RESOURCE_TAG` in its environment) holding one of
its GPUs or cores, and records them as `conflicts`: a holder that was not killed and
reaped before the set went back shows up there, whatever the timestamps say.

`x < 0.02`: hang (with a grandchild holding the same GPUs and cores) until killed;
`0.02 <= x < 0.03`: exit 3; otherwise sleep a moment and print `{"value": x}`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TAG = "RESOURCE_TAG"


def ids(text: str | None) -> list[int]:
    return [int(i) for i in text.split(",")] if text else []


def others_holding(gpus: set[int], cpus: set[int]) -> list[dict[str, object]]:
    tag = os.environ.get(TAG)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), os.getppid()):
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            affinity = os.sched_getaffinity(int(entry.name))
        except OSError:  # gone meanwhile, a zombie, or not ours to read
            continue
        env = dict(item.decode(errors="replace").partition("=")[::2] for item in environ if item)
        if tag is None or env.get(TAG) != tag:
            continue
        shared_gpus = gpus & set(ids(env.get("SIGOPT_GPUS")))
        shared_cpus = cpus & affinity
        if shared_gpus or shared_cpus:
            found.append(
                {"pid": int(entry.name), "gpus": sorted(shared_gpus), "cpus": sorted(shared_cpus)}
            )
    return found


def record(folder: Path, event: str, **fields: object) -> None:
    """`<pid>-<event>.json`, whole or not at all (a kill may land at any moment)."""
    path = folder / f"{os.getpid()}-{event}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "t": time.monotonic(), **fields}))
    os.replace(partial, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--gpus", default="")
    args = parser.parse_args()
    gpus = ids(os.environ.get("SIGOPT_GPUS"))
    cpus = sorted(os.sched_getaffinity(0))
    record(
        args.records,
        "start",
        suggestion=os.environ["SIGOPT_SUGGESTION_ID"],
        cuda=os.environ.get("CUDA_VISIBLE_DEVICES"),
        sigopt_gpus=os.environ.get("SIGOPT_GPUS"),
        argv_gpus=args.gpus,
        cpus=cpus,
        threads={
            var: os.environ.get(var)
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        },
        conflicts=others_holding(set(gpus), set(cpus)),
    )
    if args.x < 0.02:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        time.sleep(600)
    if args.x < 0.03:
        sys.exit(3)
    time.sleep(0.02)
    record(args.records, "end")
    print(json.dumps({"value": args.x}))


if __name__ == "__main__":
    main()
