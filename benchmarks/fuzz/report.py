"""The fuzz report, its limits, and the hypothesis settings every phase runs with."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, settings

#: A request slower than this counts as a hang.
MAX_RESPONSE_S = 5.0
#: Examples of each failure kept for the report.
EXAMPLES_PER_CHECK = 3


@dataclass
class FuzzReport:
    cases: int = 0
    lifecycle_requests: int = 0
    hollow_requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: check name -> how many times it failed, and a few examples (with a curl command).
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    experiments_checked: int = 0
    store_problems: list[str] = field(default_factory=list)
    #: Operations with no invalid request to make (no parameters, no body): negative mode
    #: has nothing to send there.
    no_negative_cases: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.store_problems

    def fail(self, check: str, example: str) -> None:
        self.failures[check] += 1
        if len(self.examples[check]) < EXAMPLES_PER_CHECK:
            self.examples[check].append(example[:2000])

    def summary(self) -> str:
        server_errors = sum(n for status, n in self.statuses.items() if status >= 500)
        lines = [
            "| metric | value |",
            "|---|---|",
            f"| schemathesis cases | {self.cases} |",
            f"| hollow-value requests | {self.hollow_requests} |",
            f"| lifecycle requests | {self.lifecycle_requests} |",
            f"| 5xx answers | {server_errors} |",
            f"| statuses | {dict(sorted(self.statuses.items()))} |",
            f"| failed checks | {dict(self.failures) or 0} |",
            f"| experiments reloaded | {self.experiments_checked} |",
            f"| store problems | {len(self.store_problems)} |",
            f"| operations with no invalid request | {len(self.no_negative_cases)} |",
            f"| wall time | {self.elapsed_s:.1f} s |",
        ]
        for check, examples in self.examples.items():
            lines.append(f"\n### {check}\n")
            lines.extend(f"```\n{e}\n```" for e in examples)
        lines.extend(f"- store: {p}" for p in self.store_problems)
        return "\n".join(lines)


def _settings(max_examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        # No shrinking: a failure is recorded (with its curl command), not raised.
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )
