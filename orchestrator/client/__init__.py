"""The client's upper layer: SigOpt REST API v1 calls, retries and exactly-once writes.

`ServiceClient` speaks SigOpt and returns `sigopt_service.models` objects; a `Transport` below it
moves bytes (see `orchestrator.transport`). Statuses are mapped once, in `_requests.py`:

| status                                        | outcome                                    |
|-----------------------------------------------|--------------------------------------------|
| 2xx                                           | parsed into the wire model                 |
| 429 (honours `Retry-After`), 502, 503, 504    | `TransientServiceError`, retried           |
| 500                                           | transient when `retry_server_errors`       |
| any other                                     | `ServiceRejected(status, body["message"],  |
|                                               | code=body["code"], field=body["field"])`   |

The client branches on status, `code` and `field`, never on the message. Retries use
tenacity: exponential backoff with full jitter, bounded by attempts and by total time
(`RetryPolicy`). SigOpt-compatible servers accept two observations for one suggestion
and create a suggestion on every POST, so a blind re-send of `observe` or `suggest` after an
ambiguous failure (the service may have acted) would duplicate it. Both therefore check
what the service already did before sending again; see their docstrings.

The base URL may end in `/`, or in `/v1` as the API's own address does: the client
normalises it (`normalize_base_url`). Several URLs (a list, or one comma-separated string)
name several processes of one service: every request goes to the current one, and a
connection error or a 5xx there makes the next one current (round robin, sticking to a URL
that works) before the retry, whose exactly-once checks thus ask the new URL.

Modules: `_client.py` (the calls), `_requests.py` (status mapping, parsing, paging),
`_retry.py` (the policy and the retry loop), `_lookups.py` (what an ambiguous attempt did),
`_bodies.py` (request bodies and what `report_and_ask` returns), `_queued.py` (queueing a
new experiment's first assignments exactly once), `_url.py` (the base URLs), `_failover.py`
(which URL a request goes to), `_runs.py` (SigOpt training runs, `client.runs`).

Usage sketch:
```python
async with ServiceClient("http://127.0.0.1:8080", token="T") as client:
    suggestion = await client.suggest(experiment_id, metadata={"run": run_id})
    await client.observe(experiment_id, suggestion.id, values=[MetricEvaluation(value=0.9)])
```
"""

from __future__ import annotations

from orchestrator.client._bodies import REQUEST_KEY, AskNext, Reported
from orchestrator.client._client import ServiceClient
from orchestrator.client._retry import RetryPolicy
from orchestrator.client._runs import TrainingRuns
from orchestrator.client._url import base_urls, checked_base_url, normalize_base_url, split_urls

__all__ = [
    "REQUEST_KEY",
    "AskNext",
    "Reported",
    "RetryPolicy",
    "ServiceClient",
    "TrainingRuns",
    "base_urls",
    "checked_base_url",
    "normalize_base_url",
    "split_urls",
]
