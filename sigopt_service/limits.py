"""The spec's numeric limits on a request (sections 2 and 4), shared by the body models
and validators (`sigopt_service.validation`), the OpenAPI document and the fuzzer.

Limits of query strings (`MAX_PAGE_LIMIT`) live in `http/query.py`, those of the JSON text
itself (`MAX_JSON_DEPTH`) in `http/json_body.py`.
"""

from __future__ import annotations

MAX_PARAMETERS = 100
MAX_CATEGORIES = 1000
MAX_METRICS = 50
MAX_OPTIMIZED_METRICS = 2
MAX_CONSTRAINT_METRICS = 4
MAX_BATCH_OBSERVATIONS = 2500
MAX_NAME_LENGTH = 100
MAX_CATEGORY_NAME_LENGTH = 50
MAX_METADATA_KEYS = 100
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_STRING_LENGTH = 500
MIN_BOUNDS_WIDTH = 1e-8
#: Int parameters stay within what a JSON double carries exactly.
MAX_INT_BOUND = 2**53
MAX_BUDGET = 10**9
#: Ids are SQLite integers; anything larger cannot name a row.
MAX_ID = 2**63 - 1
