"""`service.url` as a list (issue 17, item 3): the forms it takes, what a bad entry says,
how a run folder's recorded service matches a list, and `--api-url` with several URLs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.run_state import EMBEDDED, RunState
from orchestrator.runner import recorded_service
from tests.orchestrator.config_cases import VALID
from tests.orchestrator.conftest import experiment_body
from tests.orchestrator.failover_helpers import closed_port_url


def _write(tmp_path: Path, service: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(VALID + service)
    return path


class TestForms:
    def test_yaml_list_keeps_the_order_and_normalises_each(self, tmp_path: Path) -> None:
        """A YAML list: every URL, in order, without `/` or `/v1`; `url` is the first."""
        path = _write(tmp_path, "service:\n  url:\n    - http://a:8080/v1\n    - https://b/\n")
        service = load_config(path).service
        assert service.urls == ("http://a:8080", "https://b")
        assert service.url == "http://a:8080"

    def test_one_string_is_a_list_of_one(self, tmp_path: Path) -> None:
        service = load_config(_write(tmp_path, "service:\n  url: http://a:8080/\n")).service
        assert (service.urls, service.url) == (("http://a:8080",), "http://a:8080")

    def test_comma_separated_string_is_a_list(self, tmp_path: Path) -> None:
        """As `--api-url` takes several: `http://a,http://b`, spaces around commas allowed."""
        path = _write(tmp_path, "service:\n  url: 'http://a:1, http://b:2'\n")
        assert load_config(path).service.urls == ("http://a:1", "http://b:2")

    def test_api_url_flag_takes_a_comma_separated_list(self, tmp_path: Path) -> None:
        """The flag replaces the file's list as a whole."""
        path = _write(tmp_path, "service:\n  url: [http://file:1, http://file:2]\n")
        config = load_config(path, api_url="http://a:1,http://b:2/v1")
        assert config.service.urls == ("http://a:1", "http://b:2")

    @pytest.mark.parametrize("service", ["", "service:\n  url: null\n"])
    def test_no_url_is_the_embedded_service(self, tmp_path: Path, service: str) -> None:
        config = load_config(_write(tmp_path, service))
        assert (config.service.urls, config.service.url) == ((), None)


class TestBadEntries:
    @pytest.mark.parametrize(
        ("service", "key", "message"),
        [
            (
                "service:\n  url: [http://a:1, ftp://b]\n",
                "service.url[1]",
                "must start with http:// or https://, got 'ftp://b'",
            ),
            (
                "service:\n  url: 'http://a:1,b.example'\n",
                "service.url[1]",
                "must start with http:// or https://, got 'b.example'",
            ),
            (
                "service:\n  url: 'http://a:1,'\n",
                "service.url[1]",
                "must start with http:// or https://, got ''",
            ),
            ("service:\n  url: [http://a:1, 8080]\n", "service.url[1]", "valid string"),
            ("service:\n  url: []\n", "service.url", "give one or more URLs"),
            ("service:\n  url: b.example\n", "service.url", "must start with http://"),
            ("service:\n  url: {a: 1}\n", "service.url", "must be a URL or a list of URLs"),
        ],
    )
    def test_error_names_the_entry(
        self, tmp_path: Path, service: str, key: str, message: str
    ) -> None:
        with pytest.raises(ConfigError) as info:
            load_config(_write(tmp_path, service))
        assert info.value.key == key
        assert message in info.value.message

    def test_bad_entry_of_the_flag_names_the_flag(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load_config(_write(tmp_path, ""), api_url="http://a:1,b.example")
        assert info.value.key == "service.url[1]"
        assert info.value.message.endswith("(set by --api-url)")

    def test_misspelt_key_suggests_url(self, tmp_path: Path) -> None:
        """The field behind `url` is `urls` in the code; the hint names the file's key."""
        with pytest.raises(ConfigError) as info:
            load_config(_write(tmp_path, "service:\n  ulr: http://a:1\n"))
        assert (info.value.key, info.value.message) == (
            "service.ulr",
            "unknown key (did you mean `url`?)",
        )

    def test_the_code_name_is_not_a_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load_config(_write(tmp_path, "service:\n  urls: [http://a:1]\n"))
        assert info.value.key == "service.urls"


class TestRecordedService:
    """`state.json` records the first URL; any URL of the config's list matches it."""

    def _state(self, service: str) -> RunState:
        return RunState(run_id="r", experiment_id="5", service=service)

    def test_recorded_url_anywhere_in_the_list_matches(self, tmp_path: Path) -> None:
        config = load_config(_write(tmp_path, "service:\n  url: [http://a:1, http://b:2]\n"))
        assert recorded_service(config, self._state("http://b:2")) is config

    def test_config_without_url_takes_the_recorded_one(self, tmp_path: Path) -> None:
        config = load_config(_write(tmp_path, ""))
        found = recorded_service(config, self._state("http://b:2"))
        assert found.service.urls == ("http://b:2",)

    def test_another_service_names_every_url(self, tmp_path: Path) -> None:
        config = load_config(_write(tmp_path, "service:\n  url: [http://a:1, http://b:2]\n"))
        with pytest.raises(ConfigError) as info:
            recorded_service(config, self._state("http://c:3"))
        assert info.value.key == "service.url"
        assert "lives on http://c:3, not on http://a:1, http://b:2" in info.value.message

    def test_embedded_record_against_a_list(self, tmp_path: Path) -> None:
        config = load_config(_write(tmp_path, "service:\n  url: [http://a:1]\n"))
        with pytest.raises(ConfigError, match="its embedded service"):
            recorded_service(config, self._state(EMBEDDED))


def test_query_command_fails_over_between_api_urls(threaded_service_url: str) -> None:
    """`orchestrator status ID --api-url DEAD,LIVE` answers from the live one. (A child
    process: a command run in this one would leave module loggers bound to its logging
    set-up, hiding later tests' captured events.)"""
    request = urllib.request.Request(
        f"{threaded_service_url}/v1/experiments",
        data=json.dumps(experiment_body(5)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        eid = json.loads(response.read())["id"]
    urls = f"{closed_port_url()},{threaded_service_url}"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "status", eid, "--api-url", urls, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f'"{eid}"' in done.stdout
