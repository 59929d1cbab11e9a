"""The dask kind's checks and its config keys: each bad setting is refused before any
cluster is reached, naming the key as the config spells it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from orchestrator.config import check_runnable, parse_config
from orchestrator.errors import ConfigError
from tests.orchestrator.config_cases import EXPERIMENT
from workers.base import InvalidSetting, WorkerSettings
from workers.dask import DASK_KIND
from workers.kinds import KINDS

COMMAND = ["{python}", "train.py", "--x", "{x1}"]


def config_with(workers: str) -> str:
    return EXPERIMENT + "workers:\n" + workers


class TestDescriptor:
    """The kind is registered and describes what it needs."""

    def test_registered_and_described(self) -> None:
        """`workers.kind: dask` names it; it keeps a run folder and uses a cluster."""
        assert KINDS["dask"] is DASK_KIND
        assert repr(DASK_KIND) == "<WorkerKind dask runs=command needs_run_folder uses_cluster>"

    def test_only_dask_uses_a_cluster(self) -> None:
        """The other kinds refuse the cluster keys (see `TestConfigKeys`)."""
        assert {n for n, k in KINDS.items() if k.uses_cluster} == {"dask"}


class TestSettings:
    """`check_settings`: what runs, and where."""

    @pytest.mark.parametrize(
        ("changes", "field", "fragment"),
        [
            ({}, "command", "runs a `command`"),
            ({"command": COMMAND, "function": "m:f"}, "function", "not both"),
            ({"function": "no-colon"}, "function", "package.module:function"),
            ({"function": "m:f", "shell": True}, "shell", "kind `subprocess`"),
            ({"command": ["a", "b"], "shell": True}, "command", "one string"),
            ({"command": ["{}"]}, "command[0]", "empty placeholder"),
            (
                {"command": COMMAND, "scheduler": "tcp://h:1", "cluster_class": "a.B"},
                "cluster",
                "not both",
            ),
            ({"command": COMMAND, "scheduler": "head:8786"}, "scheduler", "tcp://host:8786"),
            ({"command": COMMAND, "cluster_class": "SLURMCluster"}, "cluster.class", "module"),
            ({"command": COMMAND, "resources": {"GPU": 0}}, "resources.GPU", "positive"),
        ],
    )
    def test_refused(self, changes: dict[str, object], field: str, fragment: str) -> None:
        """Each bad combination is an `InvalidSetting` naming the key."""
        settings = dataclasses.replace(WorkerSettings(count=2), **changes)  # type: ignore[arg-type]
        with pytest.raises(InvalidSetting, match=fragment) as caught:
            DASK_KIND.check_settings(settings)
        assert caught.value.field == field

    @pytest.mark.parametrize(
        "changes",
        [
            {"command": COMMAND},
            {"function": "pkg.mod:fn", "scheduler": "tcp://10.0.0.1:8786"},
            {"command": ["train.sh {x1}"], "shell": True, "cluster_class": "pkg.mod.Cluster"},
            {"function": "m:f", "resources": {"GPU": 1, "MEMORY": 2e9}},
        ],
    )
    def test_accepted(self, changes: dict[str, object]) -> None:
        """A command or a function, on a LocalCluster, a running scheduler or a class."""
        DASK_KIND.check_settings(dataclasses.replace(WorkerSettings(), **changes))  # type: ignore[arg-type]

    def test_placeholders_checked_as_the_subprocess_kind_does(self) -> None:
        """A command's placeholder naming no parameter is refused before the run."""
        settings = WorkerSettings(command=["{python}", "t.py", "{x3}"])
        with pytest.raises(InvalidSetting, match=r"\{x3\} names no parameter"):
            DASK_KIND.check_parameters(settings, ["x1", "x2"])
        DASK_KIND.check_parameters(WorkerSettings(function="m:f"), ["x1"])


class TestRunnable:
    """`check_runnable` looks at this machine only where the evaluations run on it."""

    def test_local_cluster_command_must_exist_here(self) -> None:
        """A LocalCluster's workers are this machine: a missing executable is refused."""
        with pytest.raises(InvalidSetting, match="not an executable") as caught:
            DASK_KIND.check_runnable(WorkerSettings(command=["no-such-program-xyz"]))
        assert caught.value.field == "command[0]"

    def test_running_cluster_hosts_are_not_this_one(self) -> None:
        """With a scheduler, the program and the module need exist only on its workers."""
        DASK_KIND.check_runnable(
            WorkerSettings(command=["no-such-program-xyz"], scheduler="tcp://h:8786")
        )
        DASK_KIND.check_runnable(WorkerSettings(function="nowhere:fn", scheduler="tcp://h:1"))

    def test_cluster_class_must_import(self) -> None:
        """A cluster class that does not import says what to install."""
        settings = WorkerSettings(command=["true"], cluster_class="dask_jobqueue_xyz.SLURMCluster")
        with pytest.raises(InvalidSetting, match="pip install dask-jobqueue") as caught:
            DASK_KIND.check_runnable(settings)
        assert caught.value.field == "cluster.class"
        DASK_KIND.check_runnable(
            WorkerSettings(command=["true"], cluster_class="distributed.LocalCluster")
        )


class TestConfigKeys:
    """`workers.scheduler`, `workers.cluster` and `workers.resources` as the config has them."""

    def test_all_keys_reach_the_settings(self) -> None:
        """The cluster section's class, options and scale, and the resources, arrive."""
        text = config_with(
            """\
  kind: dask
  count: 3
  function: pkg.mod:fn
  cluster:
    class: dask_jobqueue.SLURMCluster
    options: {cores: 4, memory: 16GB, walltime: "02:00:00"}
    scale: 8
  resources: {GPU: 1}
"""
        )
        settings = parse_config(yaml.safe_load(text)).worker_settings()
        assert settings.cluster_class == "dask_jobqueue.SLURMCluster"
        assert settings.cluster_options == {"cores": 4, "memory": "16GB", "walltime": "02:00:00"}
        assert (settings.cluster_scale, settings.resources) == (8, {"GPU": 1.0})

    @pytest.mark.parametrize(
        ("workers", "key", "fragment"),
        [
            (
                "  kind: subprocess\n  count: 2\n  command: [echo]\n  scheduler: tcp://h:8786\n",
                "workers.scheduler",
                "kind `dask`",
            ),
            (
                "  kind: process\n  count: 2\n  function: m:f\n  resources: {GPU: 1}\n",
                "workers.resources",
                "kind `dask`",
            ),
            (
                "  kind: dask\n  count: 2\n  function: m:f\n  cluster: {scale: 2}\n",
                "workers.cluster.class",
                "required key is missing",
            ),
            (
                "  kind: dask\n  count: 2\n  function: m:f\n  cluster: {class: a.B, size: 2}\n",
                "workers.cluster.size",
                "unknown key",
            ),
            (
                "  kind: dask\n  count: 2\n  function: m:f\n  scheduler: h:1\n",
                "workers.scheduler",
                "tcp://",
            ),
        ],
    )
    def test_refused(self, workers: str, key: str, fragment: str) -> None:
        """One `ConfigError` naming the key."""
        with pytest.raises(ConfigError, match=fragment) as caught:
            parse_config(yaml.safe_load(config_with(workers)))
        assert caught.value.key == key

    def test_runnable_check_names_the_cluster_class(self, tmp_path: Path) -> None:
        """A cluster class that does not import fails the start-up check under its key."""
        text = config_with(
            "  kind: dask\n  count: 2\n  function: m:f\n  cluster: {class: nowhere_xyz.Cluster}\n"
        )
        config = parse_config(yaml.safe_load(text), tmp_path / "c.yaml")
        with pytest.raises(ConfigError, match="dask-jobqueue") as caught:
            check_runnable(config)
        assert caught.value.key == "workers.cluster.class"
