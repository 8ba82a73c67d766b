"""The openai backend against the scripted server, through the gate and from a config."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
from pathlib import Path

import pytest

from intersyn.config import load_config
from intersyn.errors import ConfigError
from intersyn.models import ChatMessage, ModelCallError, Models
from intersyn.models.openai_backend import OpenAIChat, image_data_url
from intersyn.testing import Faults, ScriptedServer

SCORES = {
    "type": "object",
    "properties": {"its": {"type": "integer", "minimum": 0, "maximum": 5}},
    "required": ["its"],
}
FAST = {"max_retries": 5, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5}


def _cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


async def test_from_config_plain_and_structured(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        cfg = load_config(
            _cfg(
                tmp_path,
                f"""
writer:
  backend: openai
  model: qwen
  base_url: {srv.base_url}
  params: {{temperature: 0.7, top_k: 20}}
critic: {{use: writer}}
judge: {{backend: openai, model: vlm, base_url: {srv.base_url}, vision: true}}
""",
            )
        )
        models = Models.from_config(cfg)
        plain = await models.chat("writer", [ChatMessage("user", "Write a haiku")], sample_id="s1")
        structured = await models.chat(
            "judge",
            [ChatMessage("user", "Score this", images=[b"\x89PNG\r\n\x1a\nfake"])],
            schema=SCORES,
            sample_id="s1",
        )
        await models.aclose()
        sent = list(srv.requests)
    assert plain.text == "Scripted reply to: Write a haiku"
    assert plain.endpoint == srv.base_url and not plain.structured
    assert 0 <= json.loads(structured.text)["its"] <= 5 and structured.structured
    assert models.vision("judge") and not models.vision("writer")
    assert models.model_name("critic") == "qwen"
    # Unknown params travel in the body (extra_body); known ones by name.
    assert sent[0]["temperature"] == 0.7 and sent[0]["top_k"] == 20
    assert sent[1]["response_format"]["json_schema"]["schema"] == SCORES
    parts = sent[1]["messages"][0]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    report = models.usage_report()
    assert report["roles"]["writer"]["calls"] == 1
    assert report["roles"]["judge"]["image_inputs"] == 1
    assert report["total"]["input_tokens"] > 0
    lat = report["roles"]["writer"]["latency_s"]
    assert lat["p50"] is not None and 0 < lat["p50"] <= lat["p95"] <= lat["p99"]


async def test_refused_response_format_falls_back_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ScriptedServer(faults=Faults(reject_response_format=True)) as srv:
        backend = OpenAIChat("m", [srv.base_url])
        models = Models(chat={"judge": backend})
        with caplog.at_level(logging.WARNING, logger="intersyn.models"):
            first = await models.chat("judge", [ChatMessage("user", "score")], schema=SCORES)
            second = await models.chat("judge", [ChatMessage("user", "again")], schema=SCORES)
        await models.aclose()
        sent = list(srv.requests)
    assert not first.structured and not second.structured
    formats = [r.get("response_format", {}).get("type") for r in sent]
    assert formats == ["json_schema", "json_object", None, None]
    # The plain request carries the schema in the prompt so the caller can parse the reply
    # (the scripted server answers it like a model that complies).
    assert json.dumps(SCORES) in sent[2]["messages"][-1]["content"]
    assert 0 <= json.loads(second.text)["its"] <= 5
    refusals = [r for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(refusals) == 2  # once per step, not once per call


async def test_llama_cpp_style_server_gets_json_object_with_schema() -> None:
    with ScriptedServer(faults=Faults(reject_json_schema=True)) as srv:
        models = Models(chat={"judge": OpenAIChat("m", [srv.base_url])})
        first = await models.chat("judge", [ChatMessage("user", "a")], schema=SCORES)
        second = await models.chat("judge", [ChatMessage("user", "b")], schema=SCORES)
        await models.aclose()
        formats = [r.get("response_format", {}).get("type") for r in srv.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert first.structured and second.structured
    assert 0 <= json.loads(second.text)["its"] <= 5


async def test_guided_json_and_strict_json_schema() -> None:
    with ScriptedServer(faults=Faults(reject_response_format=True)) as srv:
        guided = Models(
            chat={"w": OpenAIChat("m", [srv.base_url], structured_output="guided_json")}
        )
        reply = await guided.chat("w", [ChatMessage("user", "x")], schema=SCORES)
        strict = Models(
            chat={"w": OpenAIChat("m", [srv.base_url], structured_output="json_schema")}
        )
        with pytest.raises(ModelCallError) as err:
            await strict.chat("w", [ChatMessage("user", "x")], schema=SCORES, sample_id="s9")
        await guided.aclose()
        await strict.aclose()
        sent = list(srv.requests)
    assert sent[0]["guided_json"] == SCORES and "its" in json.loads(reply.text)
    assert err.value.status == 400 and err.value.attempts == 1
    assert "s9" in str(err.value) and srv.base_url in str(err.value)


async def test_retries_transient_faults_and_counts_them() -> None:
    faults = Faults(sequence=["429", "500", "malformed", "503", None], retry_after_s=0.01)
    with ScriptedServer(faults=faults) as srv:
        models = Models(
            chat={"writer": OpenAIChat("m", [srv.base_url])},
            limits={"writer": _limits()},
        )
        reply = await models.chat("writer", [ChatMessage("user", "persist")], sample_id="s2")
        await models.aclose()
    assert reply.text == "Scripted reply to: persist"
    assert reply.usage.retries == 4
    assert models.usage_report()["roles"]["writer"]["retries"] == 4


async def test_hang_becomes_timeout_then_named_error() -> None:
    faults = Faults(sequence=["hang", "hang"], hang_s=60)
    with ScriptedServer(faults=faults) as srv:
        limits = _limits(timeout_s=0.3, max_retries=1)
        models = Models(chat={"writer": OpenAIChat("m", [srv.base_url])}, limits={"writer": limits})
        with pytest.raises(ModelCallError) as err:
            await models.chat("writer", [ChatMessage("user", "x")], sample_id="s3")
        await models.aclose()
    e = err.value
    assert (e.role, e.model, e.endpoint, e.sample_id, e.attempts) == (
        "writer",
        "m",
        srv.base_url,
        "s3",
        2,
    )
    assert e.retryable and "timed out" in str(e).lower()
    assert models.usage_report()["roles"]["writer"]["failures"] == 1


async def test_calls_spread_over_base_urls() -> None:
    with ScriptedServer() as a, ScriptedServer() as b:
        models = Models(chat={"w": OpenAIChat("m", [a.base_url, b.base_url])})
        for i in range(10):
            await models.chat("w", [ChatMessage("user", f"q{i}")])
        await models.aclose()
        assert len(a.requests) == 5 and len(b.requests) == 5


async def test_failed_endpoint_is_avoided_on_retry() -> None:
    with ScriptedServer(faults=Faults(rate_503=1.0)) as down, ScriptedServer() as up:
        models = Models(
            chat={"w": OpenAIChat("m", [down.base_url, up.base_url])}, limits={"w": _limits()}
        )
        for i in range(4):
            reply = await models.chat("w", [ChatMessage("user", f"q{i}")])
            assert reply.endpoint == up.base_url
        await models.aclose()


async def test_api_key_is_sent_but_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-intersyn-test-" + base64.b16encode(os.urandom(8)).decode()
    monkeypatch.setenv("INTERSYN_TEST_KEY", secret)
    seen_auth: list[str] = []
    faults = Faults(sequence=["500", None, None, None], reject_response_format=True)
    with ScriptedServer(faults=faults) as srv:
        cfg = load_config(
            _cfg(
                tmp_path,
                f"""
writer: {{backend: openai, model: m, base_url: {srv.base_url}, api_key_env: INTERSYN_TEST_KEY,
          params: {{temperature: 0}}, limits: {{backoff_base_s: 0.01}}}}
judge: {{backend: openai, model: m, base_url: {srv.base_url}, api_key_env: INTERSYN_TEST_KEY,
         structured_output: json_schema, limits: {{max_retries: 0}}}}
""",
            )
        )
        run = tmp_path / "run"
        models = Models.from_config(
            cfg, cache_path=run / "cache.sqlite", usage_path=run / "usage.json"
        )
        with caplog.at_level(logging.DEBUG):
            await models.chat("writer", [ChatMessage("user", "hi")], sample_id="k1")
            await models.chat("writer", [ChatMessage("user", "hi")], sample_id="k1")  # cache hit
            with pytest.raises(ModelCallError) as err:
                await models.chat("judge", [ChatMessage("user", "x")], schema=SCORES)
        await models.aclose()
        seen_auth = list(srv.auth)
    # Sent to the server (a 500, the writer's retry, the judge's call; the repeat was a hit).
    assert seen_auth == [f"Bearer {secret}"] * 3
    written = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"cache.sqlite", "usage.json"}
    for path in [*written, tmp_path / "run.yaml"]:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in str(err.value)
    assert secret not in caplog.text
    assert secret not in json.dumps(models.usage_report())


def test_missing_key_variable_is_a_config_error(tmp_path: Path) -> None:
    cfg = load_config(
        _cfg(tmp_path, "writer: {model: m, base_url: 'http://127.0.0.1:9/v1', api_key_env: NOPE_X}")
    )
    models = Models.from_config(cfg)
    import asyncio

    with pytest.raises(ConfigError, match="NOPE_X"):
        asyncio.run(models.chat("writer", [ChatMessage("user", "x")]))


def test_config_errors_name_the_role_and_field(tmp_path: Path) -> None:
    path = _cfg(tmp_path, "writer: {backend: openai, model: m}")
    with pytest.raises(ConfigError, match=r"writer\.base_url") as err:
        Models.from_config(load_config(path))
    assert str(err.value).startswith(f"{path}: ")  # the file, then the field
    with pytest.raises(ConfigError, match=r"painter\.backend is 'openai'"):
        Models.from_config(load_config(_cfg(tmp_path, "painter: {backend: openai, model: m}")))
    with pytest.raises(ConfigError, match=r"judge\.backend is 'preview'"):
        Models.from_config(load_config(_cfg(tmp_path, "judge: {backend: preview}")))
    with pytest.raises(ConfigError, match="vision"):
        Models.from_config(
            load_config(_cfg(tmp_path, "judge: {backend: caption-proxy, vision: true}"))
        )


def test_image_data_url_sniffs_type() -> None:
    assert image_data_url(b"\xff\xd8\xff\xe0abc").startswith("data:image/jpeg;base64,")
    assert image_data_url(b"\x89PNG\r\n\x1a\n").startswith("data:image/png;base64,")


def _limits(**kw: float) -> object:
    from intersyn.config import Limits

    return Limits(**{**FAST, **kw})


async def test_openai_images_backend(tmp_path: Path) -> None:
    import io

    from PIL import Image

    with ScriptedServer() as srv:
        cfg = load_config(
            _cfg(
                tmp_path,
                f"painter: {{backend: openai-images, model: img, base_url: {srv.base_url}}}",
            )
        )
        models = Models.from_config(cfg, cache_path=tmp_path / "cache.sqlite")
        a = await models.paint("painter", "a fox", size=(64, 48), seed=3, sample_id="s1")
        b = await models.paint("painter", "a fox", size=(64, 48), seed=3, sample_id="s1")
        c = await models.paint("painter", "a fox", size=(64, 48), seed=4, sample_id="s1")
        await models.aclose()
        sent = list(srv.requests)
    assert Image.open(io.BytesIO(a.image)).size == (64, 48) and (a.width, a.height) == (64, 48)
    assert b.usage.cached and b.image == a.image and c.image != a.image
    assert not a.preview and a.painter == "openai-images:img"
    assert len(sent) == 2 and sent[0]["seed"] == 3 and sent[0]["size"] == "64x48"
    assert sent[0]["response_format"] == "b64_json"
    assert models.usage_report()["roles"]["painter"]["images_made"] == 2


async def test_retry_after_header_reaches_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from intersyn.models import gate

    asked: list[float | None] = []
    real = gate.backoff_delay

    def spy(attempt: int, **kw: object) -> float:
        asked.append(kw["retry_after_s"])  # type: ignore[arg-type]
        return real(attempt, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(gate, "backoff_delay", spy)
    faults = Faults(sequence=["429", "503", None], retry_after_s=0.25)
    with ScriptedServer(faults=faults) as srv:
        models = Models(chat={"w": OpenAIChat("m", [srv.base_url])}, limits={"w": _limits()})
        reply = await models.chat("w", [ChatMessage("user", "x")])
        await models.aclose()
    # The 429's Retry-After (0.25 s) is what the gate waited at least; the 503 had none.
    assert asked == [0.25, None]
    assert reply.usage.retries == 2
    assert models.usage_report()["roles"]["w"]["retries"] == 2


async def test_connection_errors_are_retried_then_named() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    models = Models(
        chat={"critic": OpenAIChat("qwen", [base])}, limits={"critic": _limits(max_retries=2)}
    )
    with pytest.raises(ModelCallError) as err:
        await models.chat("critic", [ChatMessage("user", "x")], sample_id="s42")
    await models.aclose()
    e = err.value
    assert (e.role, e.model, e.endpoint, e.sample_id, e.attempts) == (
        "critic",
        "qwen",
        base,
        "s42",
        3,
    )
    assert e.retryable and "What to do" in str(e) and base in str(e)
    report = models.usage_report()["roles"]["critic"]
    assert report["errors"] == {"connection": 1} and report["retries"] == 2


async def test_cost_from_a_price_table_named_in_the_config(tmp_path: Path) -> None:
    prices = tmp_path / "my-prices.yaml"
    prices.write_text(
        "models:\n  house-model: {input_per_mtok: 1000000, output_per_mtok: 2000000}\ndefault: {}\n"
    )
    with ScriptedServer() as srv:
        cfg = load_config(
            _cfg(
                tmp_path,
                f"writer: {{backend: openai, model: house-model, base_url: {srv.base_url}}}\n"
                f"critic: {{backend: openai, model: other, base_url: {srv.base_url}}}\n"
                f"prices: {prices}\n",
            )
        )
        models = Models.from_config(cfg, cache=False)
        paid = await models.chat("writer", [ChatMessage("user", "hello")])
        free = await models.chat("critic", [ChatMessage("user", "hello")])
        await models.aclose()
    # $1 per input token and $2 per output token, as the edited table says.
    expected = paid.usage.input_tokens * 1.0 + paid.usage.output_tokens * 2.0
    assert paid.usage.cost_usd == pytest.approx(expected) and expected > 0
    assert free.usage.cost_usd == 0.0
    report = models.usage_report()
    assert report["prices"] == str(prices)
    assert report["total"]["cost_usd"] == pytest.approx(expected)
