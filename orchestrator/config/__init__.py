"""The run's configuration: one YAML file, validated with pydantic, plus command-line overrides.

```python
config = load_config(Path("configs/quickstart.yaml"), workers=8)   # raises ConfigError
```
Only this package and `cli.py` read files, the environment or flags; everything else gets
its section of the config through its constructor. Every error is a `ConfigError` whose
message names the key and the file (`configs/x.yaml: workers.count: ...`).

- `sections.py`: the models, one per YAML section, and the root `OrchestratorConfig`;
  `_service.py`: the `service` section (its `url` may list several for failover);
- `loading.py`: read, validate, override, check (`load_config`, `parse_config`,
  `check_parameters` for an existing experiment's parameters);
- `_yaml.py`: the YAML loader (YAML 1.2 numbers: `1e-5` is a float);
- `_messages.py`: the one error to report, with "did you mean" hints.
"""

from __future__ import annotations

from orchestrator.config._service import DEFAULT_TOKEN_ENV, ServiceSection
from orchestrator.config.loading import (
    check_parameters,
    check_runnable,
    load_config,
    parse_config,
)
from orchestrator.config.sections import (
    ExperimentSection,
    FailuresSection,
    Invalid,
    LoggingSection,
    OrchestratorConfig,
    RetrySection,
    RunSection,
    Section,
    TimeoutsSection,
    WorkersSection,
)

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "ExperimentSection",
    "FailuresSection",
    "Invalid",
    "LoggingSection",
    "OrchestratorConfig",
    "RetrySection",
    "RunSection",
    "Section",
    "ServiceSection",
    "TimeoutsSection",
    "WorkersSection",
    "check_parameters",
    "check_runnable",
    "load_config",
    "parse_config",
]
