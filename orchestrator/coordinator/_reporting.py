"""Reporting an evaluation's outcome: the observation's body, sending it (alone or with the
ask for the next suggestion), and journaling it when it may not have been stored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import structlog

from orchestrator.client import Reported, ServiceClient
from orchestrator.coordinator._model import CPUS_KEY, GPUS_KEY, METADATA_STRING_MAX, RUN_ID_KEY
from orchestrator.coordinator._stats import RunStats
from orchestrator.errors import ServiceRejected
from orchestrator.journal import ReportJournal
from sigopt_service.models import MetricEvaluation, Suggestion
from workers.base import Completed, Failed, Outcome
from workers.resources import NO_RESOURCES, Resources, ids_text

log = structlog.get_logger()

Metadata = dict[str, str | int | float]


@dataclass(frozen=True)
class Finished:
    """An evaluation that produced an outcome to report."""

    outcome: Outcome
    attempt: int
    duration_s: float
    #: The evaluation's folder (None when the kind keeps none).
    folder: Path | None = None
    #: The GPUs and cores it held.
    resources: Resources = NO_RESOURCES


@dataclass(frozen=True)
class Report:
    """One observation to send: what `observe` and the journal take."""

    suggestion: Suggestion
    values: Sequence[MetricEvaluation]
    failed: bool
    metadata: Metadata


def make_report(
    suggestion: Suggestion, outcome: Outcome, finished: Finished, base_metadata: Metadata
) -> Report:
    """The observation for `outcome` (already matched to the metrics): values, or
    `failed` with the reason and details in metadata; duration and attempt always, the
    GPUs and cores it held when it held some."""
    metadata: Metadata = {
        **base_metadata,
        **resource_metadata(finished.resources),
        "duration_s": round(finished.duration_s, 4),
        "attempt": finished.attempt,
    }
    if isinstance(outcome, Failed):
        metadata.update(failure_metadata(outcome))
        return Report(suggestion, [], True, metadata)
    values = [
        MetricEvaluation(name=v.name, value=v.value, value_stddev=v.stddev) for v in outcome.values
    ]
    return Report(suggestion, values, False, metadata)


class Reporter:
    """Sends reports for one experiment; counts refusals in `stats.rejected`.

    Whatever `send` or `send_and_ask` raises means the report may not be stored: it is
    journaled first (when there is a journal), so the next run reports it instead of
    evaluating again.
    """

    def __init__(
        self,
        client: ServiceClient,
        experiment_id: str,
        stats: RunStats,
        journal: ReportJournal | None = None,
    ) -> None:
        self._client = client
        self._eid = experiment_id
        self._stats = stats
        self._journal = journal

    async def send(self, report: Report) -> bool:
        """Report; False if the service refused it (the suggestion was deleted meanwhile)."""
        try:
            await self._client.observe(
                self._eid,
                report.suggestion.id,
                values=None if report.failed else report.values,
                failed=report.failed,
                metadata=report.metadata,
            )
        except ServiceRejected as exc:
            self._rejected(exc)
            return False
        except BaseException:
            await self._journal_report(report)
            raise
        log.debug("observation_sent", failed=report.failed)
        return True

    async def send_and_ask(self, report: Report, next_metadata: Metadata) -> Reported:
        """`send`, and the next suggestion in the same request (`report_and_ask`)."""
        try:
            reported = await self._client.report_and_ask(
                self._eid,
                report.suggestion.id,
                values=None if report.failed else report.values,
                failed=report.failed,
                metadata=report.metadata,
                next_metadata=next_metadata,
                within_budget=True,
            )
        except BaseException:
            await self._journal_report(report)
            raise
        if reported.refused is not None:
            self._rejected(reported.refused)
        else:
            log.debug("observation_sent", failed=report.failed)
        return reported

    def _rejected(self, exc: ServiceRejected) -> None:
        # Someone deleted the suggestion meanwhile (400, unknown suggestion): nothing to retry.
        self._stats.rejected += 1
        log.error(
            "observation_rejected",
            status=exc.status,
            code=exc.code,
            field=exc.field,
            error=exc.message,
        )

    async def _journal_report(self, report: Report) -> None:
        """The service stayed unreachable past the retry budget, or the run is being
        cancelled: keep the computed outcome so the next run reports it instead of
        evaluating again. Shielded, bounded: it is one line appended to a file."""
        if self._journal is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._journal.record(
                    report.suggestion.id, report.values, report.failed, report.metadata
                )
                log.warning("observation_journaled")


def match_metrics(outcome: Outcome, metric_names: Sequence[str | None]) -> Outcome:
    """Name the values after the experiment's metrics; a mismatch is a failed evaluation."""
    if not isinstance(outcome, Completed):
        return outcome
    names = list(metric_names)
    values = outcome.values
    if len(values) == 1 and len(names) == 1 and values[0].name in (None, names[0]):
        # An unnamed value ({"value": v}, a bare number) is the one metric's.
        return Completed(values=(values[0].__class__(names[0], values[0].value, values[0].stddev),))
    got = sorted(str(v.name) for v in values)
    if sorted(str(n) for n in names) != got or len(set(got)) != len(got):
        return Failed(
            reason="metric_mismatch",
            details={"message": f"expected metrics {sorted(str(n) for n in names)}, got {got}"},
        )
    return outcome


def owner_metadata(run_id: str, host: str, slot: int, held: Resources) -> Metadata:
    """Who holds a suggestion: which run, on which host and slot, with which GPUs and
    cores (`held`: those its evaluation holds)."""
    return {
        RUN_ID_KEY: run_id,
        "worker_slot": slot,
        "host": host[:METADATA_STRING_MAX],
        **resource_metadata(held),
    }


def resource_metadata(resources: Resources) -> Metadata:
    """`gpus` and `cpus` (`0,1`) of what an evaluation holds; nothing it does not hold."""
    metadata: Metadata = {}
    if resources.gpus:
        metadata[GPUS_KEY] = ids_text(resources.gpus)
    if resources.cpus:
        metadata[CPUS_KEY] = ids_text(resources.cpus)
    return metadata


def failure_metadata(outcome: Failed) -> Metadata:
    """`failure_reason` plus the details, each within SigOpt's metadata limits."""
    out: Metadata = {"failure_reason": outcome.reason}
    for key, value in list(outcome.details.items())[:20]:
        name = f"failure_{key}"[:100]
        if isinstance(value, str):
            # The end of a traceback or of stderr says the most. A command's output may
            # hold NUL characters, which the service refuses in any string.
            out[name] = value.replace("\x00", "\ufffd")[-METADATA_STRING_MAX:]
        elif isinstance(value, float) and not math.isfinite(value):
            out[name] = str(value)
        else:
            out[name] = value
    return out
