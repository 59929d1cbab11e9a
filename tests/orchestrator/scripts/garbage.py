"""A subprocess objective whose output is hostile, as `--kind` says (see KINDS)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--kind", required=True)
args = parser.parse_args()
out = sys.stdout.buffer


def line(text: str) -> None:
    out.write(text.encode() + b"\n")


if args.kind == "binary":
    out.write(bytes(range(256)) * 64 + b'\xff\xfe{"value": \x00\n\x80\x81')
elif args.kind == "truncated_json":
    line('{"value": 0.5')
elif args.kind == "python_repr":
    line("{'value': 0.5}")
elif args.kind == "string_value":
    line('{"value": "high"}')
elif args.kind == "bool_value":
    line('{"value": true}')
elif args.kind == "null_value":
    line('{"value": null}')
elif args.kind == "values_not_a_list":
    line('{"values": "x"}')
elif args.kind == "infinite_value":
    line('{"value": 1e999}')
elif args.kind == "two_wrong_names":
    line('{"accuracy": 0.9, "loss": 0.1}')
elif args.kind == "wrong_name":
    line('{"accuracy": 0.9}')
elif args.kind == "bad_result_file":
    Path(os.environ["SIGOPT_RESULT_FILE"]).write_bytes(b"\xff not json")
    line('{"value": 0.5}')  # result.json wins over stdout
elif args.kind == "huge_result_file":
    Path(os.environ["SIGOPT_RESULT_FILE"]).write_text(
        '{"value": 0.5, "pad": "' + "x" * 200_000 + '"}'
    )
elif args.kind == "huge_line":
    out.write(b"{" * 10_000_000)
elif args.kind == "garbage_then_metric":
    out.write(b"\x00\xff{{{ not json\n" * 1000)
    line('{"value": 0.75}')
else:
    raise SystemExit(f"unknown kind {args.kind}")
