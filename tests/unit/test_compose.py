"""docker-compose.yml against the Compose Specification, offline, and the rules it can't state.

The schema is the copy vendored in check-jsonschema (`--builtin-schema vendor.compose-spec`), run
as its CLI; the proxy variables point at a closed port so any attempt to fetch fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

#: Services built from this repository's image; each must see the shared environment.
LABELLER_SERVICES = {"migrate", "worker", "flower", "simulator", "producer"}
#: Services that call providers or check their keys before a job starts.
KEYED_SERVICES = {"worker", "producer"}
API_KEY = re.compile(r"sk-[A-Za-z0-9]{20,}")


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    offline = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **offline, "NO_PROXY": ""},
    )  # fmt: skip


def _load() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _mapping(node: yaml.Node) -> dict[str, yaml.Node]:
    assert isinstance(node, yaml.MappingNode)
    return {key.value: value for key, value in node.value}


def _merged(node: yaml.Node) -> list[yaml.Node]:
    """The nodes merged into a mapping with `<<:` (one alias or a list of them)."""
    merge = _mapping(node).get("<<")
    if merge is None:
        return []
    return list(merge.value) if isinstance(merge, yaml.SequenceNode) else [merge]


def test_compose_file_matches_the_compose_spec() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [
        ("worker", "replicaz", 4),
        ("flower", "ports", {"5555": 5555}),
        ("migrate", "depends_on", {"postgres": {"condition": "service_finished"}}),
    ],
)
def test_compose_spec_check_rejects_a_broken_copy(
    tmp_path: Path, service: str, key: str, value: object
) -> None:
    broken = _load()
    broken["services"][service][key] = value
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _check_compose(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "validation error" in result.stdout + result.stderr
    assert f"$.services.{service}" in result.stdout + result.stderr


def test_services_and_dependencies() -> None:
    services = _load()["services"]
    assert set(services) == {"redis", "postgres"} | LABELLER_SERVICES
    built = {name for name, service in services.items() if "build" in service}
    assert built == LABELLER_SERVICES
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name blocks --scale"
    worker = services["worker"]["depends_on"]
    assert worker["migrate"]["condition"] == "service_completed_successfully"
    assert worker["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["producer"]["profiles"] == ["producer"]
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith(
        "${FLOWER_BASIC_AUTH:?"
    )


def test_labeller_services_get_the_shared_environment_anchor() -> None:
    document = yaml.compose(COMPOSE.read_text())
    assert document is not None
    root = _mapping(document)
    shared, keys = root["x-labeller-env"], root["x-provider-keys"]
    services = _mapping(root["services"])
    for name in LABELLER_SERVICES:
        env = _mapping(services[name])["environment"]
        given = [env] if env is shared else _merged(env)
        assert any(node is shared for node in given), f"{name}: environment lacks *labeller-env"
        has_keys = any(node is keys for node in given)
        assert has_keys == (name in KEYED_SERVICES), f"{name}: *provider-keys wrongly used"
    loaded = _load()
    for name in LABELLER_SERVICES:
        env = loaded["services"][name]["environment"]
        assert loaded["x-labeller-env"].items() <= env.items(), name
        assert "/config/labeller.yaml" in " ".join(loaded["services"][name]["volumes"]), name
    for name in KEYED_SERVICES:
        assert "/data" in " ".join(loaded["services"][name]["volumes"]), name


def test_api_keys_pass_through_by_name_only() -> None:
    text = COMPOSE.read_text()
    assert not API_KEY.search(text)
    for name, value in _load()["x-provider-keys"].items():
        assert value == f"${{{name}:-}}", f"{name}: must come from the host environment"


def test_the_key_pattern_catches_a_literal_key() -> None:
    assert API_KEY.search("OPENAI_API_KEY: sk-" + "a1B2" * 6)
