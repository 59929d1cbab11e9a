"""`workers.gpus`, `gpus_per_evaluation` and `cpus_per_evaluation` in the config: `auto`
resolved when the file is read, and what cannot work refused with the key and numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from tests.orchestrator.config_cases import workers_with
from workers.resources import available_cores

SUBPROCESS = "  kind: subprocess\n  command: [echo, '{x1}']\n"
CORES = len(available_cores())


def load(tmp_path: Path, body: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(workers_with(body))
    return load_config(path)


def refused(tmp_path: Path, body: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert str(tmp_path / "c.yaml") in str(caught.value)
    return caught.value


class TestRefused:
    """Each impossible share is one ConfigError naming the key and the numbers."""

    def test_more_workers_than_gpu_groups(self, tmp_path: Path) -> None:
        error = refused(
            tmp_path, SUBPROCESS + "  count: 3\n  gpus: [0, 1, 2, 3]\n  gpus_per_evaluation: 2\n"
        )
        assert error.key == "workers.count"
        assert str(error).startswith("workers.count: is 3 but 4 GPUs / 2 per evaluation allow 2")

    def test_more_workers_than_cores(self, tmp_path: Path) -> None:
        error = refused(tmp_path, SUBPROCESS + f"  count: {CORES + 1}\n  cpus_per_evaluation: 1\n")
        assert error.key == "workers.count"
        assert f"is {CORES + 1} but {CORES} cores / 1 per evaluation allow {CORES}" in str(error)

    def test_the_workers_flag_is_checked_too(self, tmp_path: Path) -> None:
        """`--workers` overrides the count: the override is what must fit."""
        path = tmp_path / "c.yaml"
        path.write_text(workers_with(SUBPROCESS + "  count: 1\n  gpus: [0, 1]\n"))
        with pytest.raises(ConfigError, match="is 3 but 2 GPUs / 1 per evaluation allow 2"):
            load_config(path, workers=3)

    @pytest.mark.parametrize(
        ("body", "key", "fragment"),
        [
            ("  count: 1\n  gpus_per_evaluation: 2\n", "workers.gpus_per_evaluation", "needs"),
            (
                "  count: 1\n  gpus: [0]\n  gpus_per_evaluation: 2\n",
                "workers.gpus_per_evaluation",
                "is 2 but",
            ),
            ("  count: 1\n  gpus: [0, 0]\n", "workers.gpus", "twice"),
            ("  count: 1\n  gpus: [0, -1]\n", "workers.gpus[1]", "greater than or equal to 0"),
            ("  count: 1\n  gpus: all\n", "workers.gpus", "list of GPU ids or `auto`"),
            ("  count: 1\n  cpus_per_evaluation: 0\n", "workers.cpus_per_evaluation", "1"),
            (
                f"  count: 1\n  cpus_per_evaluation: {CORES + 1}\n",
                "workers.cpus_per_evaluation",
                "may use",
            ),
            (
                "  count: 1\n  gpus: [0]\n  env: {CUDA_VISIBLE_DEVICES: '3'}\n",
                "workers.env",
                "CUDA_VISIBLE_DEVICES",
            ),
        ],
    )
    def test_bad_values(self, tmp_path: Path, body: str, key: str, fragment: str) -> None:
        error = refused(tmp_path, SUBPROCESS + body)
        assert error.key == key
        assert fragment in error.message

    def test_not_on_a_cluster(self, tmp_path: Path) -> None:
        """A Dask cluster's workers are other machines: its kind holds `resources`."""
        error = refused(
            tmp_path, "  kind: dask\n  count: 1\n  command: [echo, '{x1}']\n  gpus: [0]\n"
        )
        assert error.key == "workers.gpus" and "`resources`" in error.message

    def test_gpus_placeholder_without_gpus(self, tmp_path: Path) -> None:
        error = refused(tmp_path, "  kind: subprocess\n  count: 1\n  command: [echo, '{gpus}']\n")
        assert error.key == "workers.command[1]"
        assert "needs `gpus`" in error.message


class TestAuto:
    """`gpus: auto` is resolved when the config is read."""

    def test_from_cuda_visible_devices(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
        config = load(tmp_path, SUBPROCESS + "  count: 2\n  gpus: auto\n  gpus_per_evaluation: 2\n")
        assert config.worker_settings().gpus == (4, 5, 6, 7)  # type: ignore[attr-defined]

    def test_from_nvidia_smi(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        smi = tmp_path / "bin" / "nvidia-smi"
        smi.parent.mkdir()
        smi.write_text(
            "#!/bin/sh\necho 'GPU 0: T4 (UUID: GPU-a)'\necho 'GPU 1: T4 (UUID: GPU-b)'\n"
        )
        smi.chmod(0o755)
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        monkeypatch.setenv("PATH", f"{smi.parent}:/usr/bin:/bin")
        config = load(tmp_path, SUBPROCESS + "  count: 2\n  gpus: auto\n")
        assert config.worker_settings().gpus == (0, 1)  # type: ignore[attr-defined]

    def test_none_found_shares_none(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A config written for a GPU box runs where there is none: nothing is shared out."""
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        config = load(tmp_path, SUBPROCESS + "  count: 8\n  gpus: auto\n  gpus_per_evaluation: 2\n")
        settings = config.worker_settings()  # type: ignore[attr-defined]
        assert (settings.gpus, settings.gpus_per_evaluation) == ((), None)

    def test_uuids_are_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8d6c1b2a-0000")
        error = refused(tmp_path, SUBPROCESS + "  count: 1\n  gpus: auto\n")
        assert error.key == "workers.gpus" and "UUID" in error.message


def test_settings_carry_the_numbers(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        SUBPROCESS
        + "  count: 1\n  gpus: [1, 3]\n  gpus_per_evaluation: 2\n  cpus_per_evaluation: 1\n",
    )
    settings = config.worker_settings()  # type: ignore[attr-defined]
    assert (settings.gpus, settings.gpus_per_evaluation, settings.cpus_per_evaluation) == (
        (1, 3),
        2,
        1,
    )
