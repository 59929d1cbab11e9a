"""The watch that outlives a Dask worker killed with -9: it kills what that worker's
evaluations left running on its host.

Each Dask worker process that runs an evaluation starts one reaper, in a session of its
own, and holds the write end of a pipe to it. The kernel closes that end however the
worker ends (kill -9 included), and the reaper, blocked reading, wakes on end-of-file.
It then kills the process groups the worker's evaluations recorded in their folders under
`root` (`kill_leftover_groups`: each checked by its leader's start time, so a reused pid
is never touched; one whose record still says "starting" is found by its environment)
and removes `root`. No thread, no polling, one process per Dask worker.

```python
host = worker_host()              # in the Dask worker: starts the reaper once
folder = host.evaluation_folder("12-1-ab12cd34")
```
Run as a program: `python -m workers.dask._reaper ROOT`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workers.subprocess import kill_leftover_groups

__all__ = ["WorkerHost", "worker_host"]


@dataclass(frozen=True)
class WorkerHost:
    """This Dask worker process's folder for evaluations, and its reaper."""

    root: Path
    reaper: subprocess.Popen[bytes]

    def evaluation_folder(self, name: str) -> Path:
        """A new folder for one evaluation, the owner's alone. Blocking (a mkdir)."""
        folder = self.root / name
        folder.mkdir(mode=0o700)
        return folder


_host: WorkerHost | None = None


def worker_host() -> WorkerHost:
    """This process's `WorkerHost`, made (and its reaper started) on first use. Blocking
    (a mkdir and a process start, once per Dask worker process)."""
    global _host
    # A reaper that is gone (killed by hand) is replaced: nothing would sweep otherwise.
    if _host is None or _host.reaper.poll() is not None:
        root = Path(tempfile.mkdtemp(prefix="sigopt-dask-"))
        reaper = subprocess.Popen(
            [sys.executable, "-m", "workers.dask._reaper", str(root)],
            # The write end stays here (close-on-exec, so no command inherits it): its
            # closing, at this process's end, is the reaper's signal.
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: a kill of the worker's process group must leave it to
            # do its sweep.
            start_new_session=True,
        )
        _host = WorkerHost(root=root, reaper=reaper)
    return _host


def main(argv: list[str]) -> int:
    root = Path(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Returns at end-of-file: the Dask worker process has ended, however it ended.
    while os.read(0, 4096):
        pass
    kill_leftover_groups(root)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
