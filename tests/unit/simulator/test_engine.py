"""Each injected failure at rate 1.0, in each wire format: status, body, stats and windows."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from labeller.simulator import SimulatorServer
from tests.unit.simulator.simulator_support import (
    ANTHROPIC_MODEL,
    GEMINI_MODEL,
    OPENAI_MODEL,
    anthropic_body,
    anthropic_post,
    gemini_body,
    gemini_post,
    instant,
    openai_body,
    openai_post,
    png,
    served,
)

Send = Callable[[httpx.Client], httpx.Response]

#: Per format: how to send one request, which key and model /stats files it under, overload code.
FORMATS: dict[str, tuple[Send, str, str, int]] = {
    "openai": (lambda c: openai_post(c, openai_body(png(8, 8))), "sk-test-one", OPENAI_MODEL, 503),
    "anthropic": (
        lambda c: anthropic_post(c, anthropic_body(png(8, 8))),
        "sk-ant-test",
        ANTHROPIC_MODEL,
        529,
    ),
    "gemini": (lambda c: gemini_post(c, gemini_body(png(8, 8))), "AIza-test", GEMINI_MODEL, 503),
}


def entry(client: httpx.Client, key: str, model: str) -> dict[str, object]:
    stats = client.get("/stats", params={"requests": "1"}).json()
    found = stats["keys"][SimulatorServer.key_hash(key)][model]
    assert isinstance(found, dict)
    return found


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize(
    ("field", "counter", "admitted"),
    [
        ("rate_limit_rate", "rate_limited", False),
        ("overload_rate", "overloaded", False),
        ("fault_rate", "faults", True),
        ("timeout_rate", "timeouts", True),
        ("malformed_rate", "malformed", True),
    ],
)
def test_each_injection_at_rate_one(name: str, field: str, counter: str, admitted: bool) -> None:
    send, key, model, overload_status = FORMATS[name]
    statuses = {
        "rate_limit_rate": 429,
        "overload_rate": overload_status,
        "fault_rate": 500,
        "timeout_rate": 200,
        "malformed_rate": 200,
    }
    with served(instant(**{field: 1.0}, timeout_s=0.0)) as client:
        responses = [send(client) for _ in range(3)]
        found = entry(client, key, model)

    assert [r.status_code for r in responses] == [statuses[field]] * 3
    totals = found["totals"]
    assert isinstance(totals, dict)
    assert totals[counter] == 3
    assert sum(totals[other] for other in ("accepted", "rate_limited", "overloaded")) == (
        0 if admitted else 3
    )
    requests = found["requests"]
    assert isinstance(requests, list)
    assert len(requests) == (3 if admitted else 0)
    if field == "fault_rate":
        assert all(completion == 0 for _, _, completion in requests)
    if field == "malformed_rate":
        for response in responses:
            assert response.headers["content-type"].startswith("application/json")
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.content)
            assert response.content.startswith(b"{")
    if field == "timeout_rate":
        assert all(r.json() for r in responses)
    if field == "rate_limit_rate" and name != "gemini":
        assert all(r.headers["retry-after"] == "1" for r in responses)


def test_a_seed_replays_the_same_failures() -> None:
    profile = instant(fault_rate=0.3, overload_rate=0.3)

    def run(seed: int) -> list[int]:
        with served(profile, seed=seed) as client:
            return [openai_post(client, openai_body(png(8, 8))).status_code for _ in range(20)]

    first = run(seed=7)

    assert run(seed=7) == first
    assert {200, 500, 503} <= set(first)
    assert run(seed=8) != first
