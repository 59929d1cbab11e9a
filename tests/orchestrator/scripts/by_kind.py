"""A subprocess objective that fails as `--kind` says: ok, exit, nometric, nan, hang, garbage.

`hang` starts a grandchild, writes both pids to `--pids`, and sleeps forever.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--kind", required=True)
parser.add_argument("--pids", default="")
args = parser.parse_args()

if args.kind == "ok":
    print("training...")
    print(json.dumps({"value": args.x}))
elif args.kind == "exit":
    print("CUDA out of memory", file=sys.stderr)
    sys.exit(3)
elif args.kind == "nometric":
    print("done, but I forgot to print the metric")
elif args.kind == "nan":
    print('{"value": NaN}')
elif args.kind == "garbage":
    sys.stdout.write("\x00\xff not json {{{\n" * 1000)
elif args.kind == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(args.pids, "a") as f:
        f.write(f"{child.pid}\n{__import__('os').getpid()}\n")
    time.sleep(600)
