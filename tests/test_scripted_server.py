"""The scripted OpenAI-compatible server: protocol, default replies, scripting, faults, capacity."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import pytest
from PIL import Image

from intersyn.testing import Faults, ScriptedServer, schema_instance

SCHEMA = {
    "type": "object",
    "properties": {
        "tcc": {"type": "integer", "minimum": 0, "maximum": 5},
        "reason": {"type": "string", "minLength": 3, "maxLength": 80},
        "ok": {"type": "boolean"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2},
        "mode": {"enum": ["vision", "caption-proxy"]},
        "maybe": {"anyOf": [{"type": "null"}, {"type": "number", "exclusiveMaximum": 1}]},
    },
    "required": ["tcc", "reason", "ok", "tags", "mode", "maybe"],
    "$defs": {"tag": {"type": "string", "maxLength": 10}},
}


def _chat(client: httpx.Client, **body: object) -> httpx.Response:
    payload = {"model": "m", "messages": [{"role": "user", "content": "Hello there"}], **body}
    return client.post("/chat/completions", json=payload)


@pytest.fixture
def server() -> ScriptedServer:
    with ScriptedServer() as srv:
        yield srv


def test_schema_instance_validates_and_is_deterministic() -> None:
    import jsonschema

    for seed in range(30):
        value = schema_instance(SCHEMA, seed=seed)
        jsonschema.validate(value, SCHEMA)
    assert schema_instance(SCHEMA, seed=4) == schema_instance(SCHEMA, seed=4)


def test_models_and_echo_reply(server: ScriptedServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        models = c.get("/models").json()
        assert models["data"][0]["id"] == "scripted"
        reply = _chat(c).json()
    assert reply["choices"][0]["message"]["content"] == "Scripted reply to: Hello there"
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["prompt_tokens"] > 0
    assert server.requests[0]["messages"][0]["content"] == "Hello there"


@pytest.mark.parametrize(
    "fmt",
    [
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": SCHEMA},
            }
        },
        {"response_format": {"type": "json_object", "schema": SCHEMA}},
        {"guided_json": SCHEMA},
    ],
)
def test_structured_requests_get_a_schema_instance(server: ScriptedServer, fmt: dict) -> None:
    import jsonschema

    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        text = _chat(c, **fmt).json()["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(text), SCHEMA)


def test_schema_in_the_prompt_gets_an_instance(server: ScriptedServer) -> None:
    import jsonschema

    note = "Reply with only a JSON object that follows this JSON schema, and nothing else:\n"
    messages = [
        {"role": "user", "content": "Score the answer."},
        {"role": "user", "content": note + json.dumps(SCHEMA)},
    ]
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        reply = c.post("/chat/completions", json={"model": "m", "messages": messages}).json()
        broken = [{"role": "user", "content": "a JSON schema: {not json"}]
        echo = c.post("/chat/completions", json={"model": "m", "messages": broken}).json()
    jsonschema.validate(json.loads(reply["choices"][0]["message"]["content"]), SCHEMA)
    assert echo["choices"][0]["message"]["content"].startswith("Scripted reply to: a JSON")


def test_scripted_list_then_callable_fallback() -> None:
    with (
        ScriptedServer(responder=["first", "second"]) as srv,
        httpx.Client(base_url=srv.base_url, timeout=10) as c,
    ):
        texts = [_chat(c).json()["choices"][0]["message"]["content"] for _ in range(3)]
    assert texts == ["first", "second", "Scripted reply to: Hello there"]

    def rule(body: dict) -> str | None:
        return "JUDGE" if "judge" in body["model"] else None

    with ScriptedServer(responder=rule) as srv, httpx.Client(base_url=srv.base_url) as c:
        judged = c.post("/chat/completions", json={"model": "judge-1", "messages": []}).json()
        other = _chat(c).json()
    assert judged["choices"][0]["message"]["content"] == "JUDGE"
    assert other["choices"][0]["message"]["content"].startswith("Scripted reply")


def test_fault_sequence_kinds() -> None:
    faults = Faults(
        sequence=["429", "500", "503", "malformed", "truncated", "refusal", None],
        retry_after_s=2.5,
    )
    with ScriptedServer(faults=faults) as srv, httpx.Client(base_url=srv.base_url) as c:
        r429, r500, r503, bad, cut, refused, fine = (_chat(c) for _ in range(7))
        stats = srv.stats
    assert r429.status_code == 429 and r429.headers["retry-after"] == "2.5"
    assert (r500.status_code, r503.status_code) == (500, 503)
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.content)
    cut_choice = cut.json()["choices"][0]
    assert cut_choice["finish_reason"] == "length"
    assert cut_choice["message"]["content"] == "Scripted reply to: Hello there"[:15]
    assert refused.json()["choices"][0]["message"]["refusal"]
    assert fine.json()["choices"][0]["message"]["content"].startswith("Scripted")
    assert stats.faults["429"] == 1 and stats.faults["refusal"] == 1


def test_fault_rates_are_deterministic_per_seed() -> None:
    def run(seed: int) -> list[int]:
        faults = Faults(rate_500=0.3, rate_429=0.2, seed=seed, retry_after_s=0)
        with ScriptedServer(faults=faults) as srv, httpx.Client(base_url=srv.base_url) as c:
            return [_chat(c).status_code for _ in range(40)]

    a, b, other = run(7), run(7), run(8)
    assert a == b
    assert a != other
    assert {200, 429, 500} == set(a)


def test_reject_response_format() -> None:
    with (
        ScriptedServer(faults=Faults(reject_response_format=True)) as srv,
        httpx.Client(base_url=srv.base_url) as c,
    ):
        refused = _chat(c, response_format={"type": "json_object"})
        plain = _chat(c)
    assert refused.status_code == 400
    assert plain.status_code == 200


def test_hang_is_released_on_stop() -> None:
    srv = ScriptedServer(faults=Faults(sequence=["hang"], hang_s=3600)).start()
    try:
        with (
            httpx.Client(base_url=srv.base_url, timeout=0.5) as c,
            pytest.raises(httpx.TimeoutException),
        ):
            _chat(c)
    finally:
        srv.stop()
    assert srv.stats.faults["hang"] == 1


def test_images_endpoint_returns_png_of_requested_size(server: ScriptedServer) -> None:
    with httpx.Client(base_url=server.base_url) as c:
        body = {
            "model": "img",
            "prompt": "a red fox",
            "size": "64x48",
            "response_format": "b64_json",
        }
        data = c.post("/images/generations", json=body).json()["data"]
        again = c.post("/images/generations", json=body).json()["data"]
    png = base64.b64decode(data[0]["b64_json"])
    img = Image.open(io.BytesIO(png))
    assert (img.format, img.size) == ("PNG", (64, 48))
    assert again[0]["b64_json"] == data[0]["b64_json"]


async def test_capacity_bounds_concurrency() -> None:
    with ScriptedServer(latency_s=0.05, capacity=3) as srv:
        async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as c:
            payload = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            replies = await asyncio.gather(
                *(c.post("/chat/completions", json=payload) for _ in range(12))
            )
        assert all(r.status_code == 200 for r in replies)
        assert srv.stats.peak_concurrency == 3
        assert srv.stats.served == 12
