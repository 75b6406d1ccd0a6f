"""SimulatorServer itself: routes, /stats and its request listing, stop, hangs ending on stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

from labeller.simulator import SimulatorConfig, SimulatorServer
from tests.support import T0, FakeClock
from tests.unit.simulator.simulator_support import (
    ANTHROPIC_MODEL,
    GEMINI_MODEL,
    INSTANT,
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

WaitUntil = Callable[..., None]


def windows_hold(requests: list[list[float]], rpm: int, tpm: int) -> bool:
    """Every 60 s window (t - 60, t] of the listing stays within rpm and tpm."""
    for t, _, _ in requests:
        inside = [(p, c) for at, p, c in requests if t - 60 < at <= t]
        if len(inside) > rpm or sum(p + c for p, c in inside) > tpm:
            return False
    return True


def test_health_and_unknown_path() -> None:
    with served() as client:
        assert client.get("/health").json() == {"status": "ok"}

        missing = client.get("/v1/nothing")

        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "Invalid URL (GET /v1/nothing)"


def test_key_hash_is_a_short_sha256_prefix() -> None:
    digest = SimulatorServer.key_hash("sk-secret")

    assert len(digest) == 12
    assert digest == SimulatorServer.key_hash("sk-secret") != SimulatorServer.key_hash("sk-other")


def test_stats_count_per_key_model_and_minute_and_list_requests() -> None:
    clock = FakeClock()
    with served(instant(rpm=2, tpm=10_000), clock) as client:
        codes = []
        for step in range(6):
            codes.append(
                openai_post(client, openai_body(png(8, 8)), key="sk-secret-one").status_code
            )
            clock.advance(25)
            if step == 2:
                anthropic_post(client, anthropic_body(png(8, 8)))
                gemini_post(client, gemini_body(png(8, 8)))

        stats = client.get("/stats", params={"requests": 1}).json()
        plain = client.get("/stats").json()

    assert codes == [200, 200, 429, 200, 200, 429]
    assert "sk-secret-one" not in str(stats)
    openai = stats["keys"][SimulatorServer.key_hash("sk-secret-one")][OPENAI_MODEL]
    assert openai["totals"]["accepted"] == 4
    assert openai["totals"]["rate_limited"] == 2
    listing = openai["requests"]
    assert [at for at, _, _ in listing] == [T0, T0 + 25, T0 + 75, T0 + 100]
    assert all(prompt == 3 + 85 and completion > 0 for _, prompt, completion in listing)
    assert windows_hold(listing, rpm=2, tpm=10_000)
    assert openai["totals"]["prompt_tokens"] == sum(p for _, p, _ in listing)
    assert openai["totals"]["completion_tokens"] == sum(c for _, _, c in listing)
    first_minute = str(int(T0 // 60) * 60)
    assert openai["minutes"][first_minute]["accepted"] >= 1
    assert sum(m["rate_limited"] for m in openai["minutes"].values()) == 2
    assert stats["keys"][SimulatorServer.key_hash("sk-ant-test")][ANTHROPIC_MODEL]["requests"]
    assert stats["keys"][SimulatorServer.key_hash("AIza-test")][GEMINI_MODEL]["requests"]
    assert stats["totals"]["accepted"] == 6
    assert stats["totals"]["rate_limited"] == 2
    assert "requests" not in plain["keys"][SimulatorServer.key_hash("sk-secret-one")][OPENAI_MODEL]
    assert plain["totals"] == stats["totals"]


def test_stats_reset_forgets_counts() -> None:
    with served() as client:
        openai_post(client, openai_body(png(8, 8)))

        assert client.post("/stats/reset").status_code == 200

        assert client.get("/stats").json() == {
            "keys": {},
            "totals": dict.fromkeys(
                [
                    "accepted",
                    "rate_limited",
                    "overloaded",
                    "faults",
                    "timeouts",
                    "malformed",
                    "prompt_tokens",
                    "completion_tokens",
                ],
                0,
            ),
        }


def test_stop_closes_the_socket() -> None:
    server = SimulatorServer(SimulatorConfig(default=INSTANT))
    server.start()
    url = server.url
    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2.0)


def test_a_client_timeout_fires_during_a_hang() -> None:
    with served(instant(timeout_rate=1.0, timeout_s=600.0)) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(
                "/v1/chat/completions",
                json=openai_body(png(8, 8)),
                headers={"Authorization": "Bearer sk-hang"},
                timeout=0.2,
            )


def test_a_hang_ends_when_the_server_stops(wait_until: WaitUntil) -> None:
    config = SimulatorConfig(default=instant(timeout_rate=1.0, timeout_s=600.0))
    server = SimulatorServer(config, clock=FakeClock())
    server.start()
    url = server.url
    seen: list[object] = []

    def call() -> None:
        try:
            seen.append(
                httpx.post(
                    f"{url}/v1/chat/completions",
                    json=openai_body(png(8, 8)),
                    headers={"Authorization": "Bearer sk-hang"},
                    timeout=60.0,
                )
            )
        except httpx.HTTPError as exc:
            seen.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(
        lambda: httpx.get(f"{url}/stats").json()["totals"]["timeouts"] == 1,
        timeout_s=10.0,
        message="the request to start hanging",
    )

    server.stop()
    caller.join(timeout=10.0)

    assert not caller.is_alive()
    [result] = seen
    assert isinstance(result, httpx.RemoteProtocolError)
