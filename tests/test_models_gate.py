"""The gate with test-double backends: cache, retries, limits, usage, budget, preview painter."""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from intersyn.config import Limits
from intersyn.errors import BudgetExceeded, ConfigError
from intersyn.models import BackendError, ChatMessage, ChatResult, ModelCallError, Models, Usage
from intersyn.models.cache import ResponseCache, chat_key
from intersyn.models.limits import TokenBucket, backoff_delay
from intersyn.models.preview import PreviewPainter
from intersyn.models.usage import Price, PriceTable, UsageBook

FAST = Limits(max_retries=3, backoff_base_s=0.001, backoff_max_s=0.002, timeout_s=5)


class FakeChat:
    """A test-double chat backend: counts calls and in-flight peaks, fails on a script."""

    name = "fake"

    def __init__(
        self,
        model: str = "fake-model",
        *,
        fail: list[BackendError | None] | None = None,
        delay_s: float = 0.0,
        vision: bool = False,
        params: dict[str, Any] | None = None,
        tokens: tuple[int, int] = (10, 5),
    ) -> None:
        self.model = model
        self.vision = vision
        self.params = dict(params or {})
        self.fail = list(fail or [])
        self.delay_s = delay_s
        self.tokens = tokens
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    async def chat(self, messages: list[ChatMessage], **kw: Any) -> ChatResult:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail:
                err = self.fail.pop(0)
                if err is not None:
                    raise err
            text = f"reply {self.calls} to {messages[-1].content}"
            return ChatResult(
                text=text,
                usage=Usage(input_tokens=self.tokens[0], output_tokens=self.tokens[1]),
                model=self.model,
                finish_reason="stop",
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


def _msg(text: str = "hi", images: list[bytes] | None = None) -> list[ChatMessage]:
    return [ChatMessage("user", text, images=images or [])]


async def test_cache_replays_deterministic_calls(tmp_path: Path) -> None:
    backend = FakeChat()
    models = Models(chat={"writer": backend}, cache=tmp_path / "c.sqlite")
    first = await models.chat("writer", _msg(), seed=1)
    again = await models.chat("writer", _msg(), seed=1)
    other_seed = await models.chat("writer", _msg(), seed=2)
    hot = await models.chat("writer", _msg(), params={"temperature": 0.9})
    hot2 = await models.chat("writer", _msg(), params={"temperature": 0.9})
    cold = await models.chat("writer", _msg(), params={"temperature": 0})
    cold2 = await models.chat("writer", _msg(), params={"temperature": 0})
    await models.aclose()
    assert again.text == first.text and again.usage.cached and not first.usage.cached
    assert other_seed.text != first.text
    assert hot.text != hot2.text  # sampled without a seed: never replayed
    assert cold2.text == cold.text and cold2.usage.cached
    assert backend.calls == 5
    report = models.usage_report()["roles"]["writer"]
    assert report["cache_hits"] == 2 and report["calls"] == 7
    assert report["input_tokens"] == 50  # hits cost no tokens


async def test_cache_survives_a_new_gate_and_keys_images_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    vlm = FakeChat(vision=True)
    first = Models(chat={"judge": vlm}, cache=path)
    a = await first.chat("judge", _msg("score", [b"img-A"]), seed=0)
    await first.aclose()
    resumed = Models(chat={"judge": FakeChat(vision=True)}, cache=path)
    replay = await resumed.chat("judge", _msg("score", [b"img-A"]), seed=0)
    other = await resumed.chat("judge", _msg("score", [b"img-B"]), seed=0)
    await resumed.aclose()
    assert replay.text == a.text and replay.usage.cached
    assert not other.usage.cached
    raw = path.read_bytes()
    assert b"img-A" not in raw  # images are keyed by their hash, not stored


async def test_role_cache_switch(tmp_path: Path) -> None:
    backend = FakeChat()
    models = Models(
        chat={"writer": backend, "critic": backend},
        cache=tmp_path / "c.sqlite",
        cache_roles={"writer": False, "critic": True},
    )
    for _ in range(2):
        await models.chat("writer", _msg(), seed=1)
        await models.chat("critic", _msg("c"), params={"temperature": 1.0})
    await models.aclose()
    assert backend.calls == 3  # writer twice (cache off), critic once (forced on)


async def test_identical_calls_in_flight_are_made_once(tmp_path: Path) -> None:
    backend = FakeChat(delay_s=0.05)
    models = Models(chat={"w": backend}, cache=tmp_path / "c.sqlite")
    replies = await asyncio.gather(*(models.chat("w", _msg(), seed=5) for _ in range(8)))
    await models.aclose()
    assert backend.calls == 1
    assert len({r.text for r in replies}) == 1
    assert sum(r.usage.cached for r in replies) == 7


class ScriptedChat(FakeChat):
    """Replies from a list, in order (each a text, or (text, finish_reason))."""

    def __init__(self, replies: list[str | tuple[str, str]]) -> None:
        super().__init__()
        self.replies = list(replies)

    async def chat(self, messages: list[ChatMessage], **kw: Any) -> ChatResult:
        self.calls += 1
        reply = self.replies.pop(0)
        text, finish = reply if isinstance(reply, tuple) else (reply, "stop")
        return ChatResult(text=text, usage=Usage(10, 5), model=self.model, finish_reason=finish)


async def test_refresh_does_not_replay_an_unusable_cached_reply(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = Models(chat={"w": ScriptedChat(["not json"])}, cache=path)
    bad = await first.chat("w", _msg(), seed=3)
    await first.aclose()
    # A rerun: the plain call replays the unusable reply; a refresh asks the model again.
    backend = ScriptedChat(['{"answer": "ok"}'])
    rerun = Models(chat={"w": backend}, cache=path)
    replayed = await rerun.chat("w", _msg(), seed=3)
    fresh = await rerun.chat("w", _msg(), seed=3, cache="refresh")
    await rerun.aclose()
    assert bad.text == replayed.text == "not json" and replayed.usage.cached
    assert fresh.text == '{"answer": "ok"}' and not fresh.usage.cached
    assert backend.calls == 1
    # The fresh reply took the old one's place: the next run replays it.
    later = Models(chat={"w": ScriptedChat([])}, cache=path)
    again = await later.chat("w", _msg(), seed=3)
    await later.aclose()
    assert again.text == '{"answer": "ok"}' and again.usage.cached
    report = rerun.usage_report()["roles"]["w"]
    assert (report["calls"], report["cache_hits"]) == (2, 1)


async def test_refresh_that_gets_a_cut_reply_forgets_the_stored_one(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    models = Models(chat={"w": ScriptedChat(["bad", ("cut sho", "length")])}, cache=path)
    await models.chat("w", _msg(), seed=1)
    cut = await models.chat("w", _msg(), seed=1, cache="refresh")
    await models.aclose()
    assert cut.finish_reason == "length"
    assert ResponseCache(path).stats()["entries"] == 0  # neither "bad" nor the cut reply


async def test_cache_false_neither_reads_nor_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    backend = ScriptedChat(["stored", "live 1", "live 2"])
    models = Models(chat={"w": backend}, cache=path)
    stored = await models.chat("w", _msg(), seed=1)
    live = await models.chat("w", _msg(), seed=1, cache=False)
    other = await models.chat("w", _msg("new"), seed=1, cache=False)
    replay = await models.chat("w", _msg(), seed=1)
    await models.aclose()
    assert (stored.text, live.text, other.text) == ("stored", "live 1", "live 2")
    assert not live.usage.cached and replay.text == "stored" and replay.usage.cached
    assert backend.calls == 3
    assert ResponseCache(path).stats()["entries"] == 1  # "new" was never stored


class CachedPreview(PreviewPainter):
    """The preview painter made cacheable, counting its paintings (a stand-in for a real one)."""

    cacheable = True

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def paint(self, prompt: str, **kw: Any) -> Any:
        self.calls += 1
        return await super().paint(prompt, **kw)


async def test_paint_refresh_repaints(tmp_path: Path) -> None:
    painter = CachedPreview()
    models = Models(paint={"p": painter}, cache=tmp_path / "c.sqlite")
    a = await models.paint("p", "a fox", size=(64, 64), seed=1)
    b = await models.paint("p", "a fox", size=(64, 64), seed=1)
    c = await models.paint("p", "a fox", size=(64, 64), seed=1, cache="refresh")
    d = await models.paint("p", "a fox", size=(64, 64), seed=1, cache=False)
    await models.aclose()
    assert b.usage.cached and not c.usage.cached and not d.usage.cached
    assert a.image == b.image == c.image == d.image  # the preview painter is deterministic
    assert painter.calls == 3


def _hammer(path: str, worker: int, n: int) -> list[str]:
    cache = ResponseCache(path)
    seen = []
    for i in range(n):
        key = chat_key("b", "m", _msg(f"{i}"), params={}, schema=None, seed=i)
        hit = cache.get_chat(key)
        if hit is None:
            cache.put_chat(key, ChatResult(text=f"{i}", model="m"))
        else:
            seen.append(hit.text)
    cache.close()
    return seen


def test_cache_is_safe_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.starmap(_hammer, [(path, w, 60) for w in range(3)])
    cache = ResponseCache(path)
    stats = cache.stats()
    for seen in results:
        assert all(text.isdigit() for text in seen)
    assert stats["entries"] == 60
    for i in range(60):
        hit = cache.get_chat(chat_key("b", "m", _msg(f"{i}"), params={}, schema=None, seed=i))
        assert hit is not None and hit.text == str(i)
    assert cache.clear() == 60 and cache.stats()["entries"] == 0


async def test_retries_then_named_error_and_no_retry_on_permanent_errors() -> None:
    flaky = FakeChat(fail=[BackendError("503", retryable=True, status=503)] * 2)
    dead = FakeChat(fail=[BackendError("boom", retryable=True, status=500)] * 10)
    bad = FakeChat(fail=[BackendError("bad request", retryable=False, status=400)])
    models = Models(
        chat={"writer": flaky, "critic": dead, "judge": bad},
        limits={"writer": FAST, "critic": FAST, "judge": FAST},
    )
    ok = await models.chat("writer", _msg(), sample_id="s1")
    with pytest.raises(ModelCallError) as dead_err:
        await models.chat("critic", _msg(), sample_id="s2")
    with pytest.raises(ModelCallError) as bad_err:
        await models.chat("judge", _msg(), sample_id="s3")
    assert ok.usage.retries == 2 and flaky.calls == 3
    assert dead.calls == FAST.max_retries + 1
    assert dead_err.value.attempts == 4 and dead_err.value.role == "critic"
    assert "s2" in str(dead_err.value) and "fake-model" in str(dead_err.value)
    assert bad.calls == 1 and bad_err.value.status == 400
    report = models.usage_report()["roles"]
    assert report["critic"]["failures"] == 1 and report["critic"]["errors"] == {"http_500": 1}
    assert report["critic"]["retries"] == 3 and report["writer"]["retries"] == 2


async def test_timeout_backstop_for_a_backend_that_hangs() -> None:
    slow = FakeChat(delay_s=30)
    limits = Limits(timeout_s=0.05, max_retries=1, backoff_base_s=0.001)
    models = Models(chat={"w": slow}, limits={"w": limits})
    with pytest.raises(ModelCallError, match=r"timeout_s=0\.05"):
        await models.chat("w", _msg(), sample_id="hang")
    assert slow.calls == 2
    assert models.usage_report()["roles"]["w"]["errors"] == {"timeout": 1}


async def test_role_and_shared_endpoint_concurrency() -> None:
    backend = FakeChat(delay_s=0.02)
    models = Models(chat={"writer": backend}, concurrency={"writer": 3})
    await asyncio.gather(*(models.chat("writer", _msg(f"{i}")) for i in range(20)))
    assert backend.peak == 3

    class TwoRoles(FakeChat):
        endpoints = ["http://gpu-1/v1"]

        async def chat(self, messages: list[ChatMessage], **kw: Any) -> ChatResult:
            assert kw["endpoint"] == "http://gpu-1/v1"
            return await super().chat(messages, **kw)

    shared = TwoRoles(delay_s=0.02)
    cap = Limits(concurrency=8, endpoint_concurrency=4)
    models = Models(
        chat={"writer": shared, "critic": shared}, limits={"writer": cap, "critic": cap}
    )
    await asyncio.gather(
        *(models.chat(role, _msg(f"{i}")) for i in range(12) for role in ("writer", "critic"))
    )
    assert shared.peak == 4


async def test_budget_stops_cleanly_and_keeps_usage(tmp_path: Path) -> None:
    prices = PriceTable({"pricey": Price(input_per_mtok=1e5, output_per_mtok=1e5)}, [], Price())
    backend = FakeChat("pricey", tokens=(10, 10))  # 20 tokens * 0.1 $/token = 2 $ a call
    models = Models(
        chat={"w": backend}, prices=prices, budget_usd=5.0, usage_path=tmp_path / "usage.json"
    )
    done = []
    with pytest.raises(BudgetExceeded, match=r"budget_usd=5.*sample s3.*--resume"):
        for i in range(10):
            done.append(await models.chat("w", _msg(f"{i}"), sample_id=f"s{i}"))
    await models.aclose()
    assert len(done) == 3 and backend.calls == 3
    assert done[0].usage.cost_usd == pytest.approx(2.0)
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["total"]["cost_usd"] == pytest.approx(6.0)
    assert usage["budget_usd"] == 5.0 and usage["roles"]["w"]["ok"] == 3


def test_price_table_matching_and_errors(tmp_path: Path) -> None:
    table = PriceTable.load()
    assert table.price("gpt-4o-mini").output_per_mtok == pytest.approx(0.60)
    assert table.price("GPT-4o-2024-08-06").input_per_mtok == pytest.approx(2.50)
    assert table.price("Qwen/Qwen2.5-7B-Instruct").input_per_mtok == 0.0
    bad = tmp_path / "prices.yaml"
    bad.write_text("models:\n  m: {input_per_mtok: lots}\n")
    with pytest.raises(ConfigError, match=r"prices.yaml: models.m"):
        PriceTable.load(bad)


async def test_images_to_a_text_only_role_are_refused() -> None:
    models = Models(chat={"inspector": FakeChat(vision=False)})
    with pytest.raises(ConfigError, match=r"inspector.*s7.*caption-proxy"):
        await models.chat("inspector", _msg("look", [b"png"]), sample_id="s7")
    assert not models.vision("inspector") and not models.vision("nobody")


async def test_unknown_role_and_closed_gate() -> None:
    models = Models(chat={"w": FakeChat()})
    with pytest.raises(ConfigError, match="'judge'"):
        await models.chat("judge", _msg())
    with pytest.raises(ConfigError, match="'painter'"):
        await models.paint("painter", "x")
    await models.aclose()
    with pytest.raises(Exception, match="closed"):
        await models.chat("w", _msg())


def test_gate_works_across_event_loops() -> None:
    backend = FakeChat()
    models = Models(chat={"w": backend}, concurrency={"w": 2})
    a = asyncio.run(models.chat("w", _msg("one")))
    b = asyncio.run(models.chat("w", _msg("two")))
    assert (a.text, b.text) == ("reply 1 to one", "reply 2 to two")


def test_backoff_delay_jitter_cap_and_retry_after() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(a, base_s=1, max_s=8, retry_after_s=None, rng=rng) for a in range(6)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2
    assert all(4 <= d <= 8 for d in delays[3:])
    assert backoff_delay(0, base_s=0.1, max_s=1, retry_after_s=7, rng=rng) == 7


async def test_token_bucket_waits_for_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    slept: list[float] = []
    monkeypatch.setattr("intersyn.models.limits.time.monotonic", lambda: clock[0])

    async def fake_sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    bucket = TokenBucket(per_minute=120)  # 2 a second, burst of 2
    monkeypatch.setattr("intersyn.models.limits.asyncio.sleep", fake_sleep)
    for _ in range(4):
        await bucket.acquire(1)
    assert slept == pytest.approx([0.5, 0.5])
    bucket.debit(3)  # a reply used more tokens than estimated: the next call waits it out
    await bucket.acquire(1)
    assert slept[-1] == pytest.approx(2.0)


async def test_preview_painter_is_deterministic_and_marked(tmp_path: Path) -> None:
    models = Models(paint={"painter": PreviewPainter()}, cache=tmp_path / "c.sqlite")
    a = await models.paint("painter", "A red fox in the snow", size=(320, 200), seed=1)
    b = await models.paint("painter", "A red fox in the snow", size=(320, 200), seed=1)
    c = await models.paint("painter", "A red fox in the snow", size=(320, 200), seed=2)
    await models.aclose()
    assert a.image == b.image and a.image != c.image
    assert a.preview and a.painter == "preview" and (a.width, a.height) == (320, 200)
    img = Image.open(io.BytesIO(a.image)).convert("RGB")
    assert img.size == (320, 200)
    r, g, bl = img.getpixel((3, 3))  # the banner is red
    assert r > 150 and g < 80 and bl < 80
    assert models.usage_report()["roles"]["painter"]["images_made"] == 3


async def test_from_config_takes_ready_backends(tmp_path: Path) -> None:
    from intersyn.config import load_config

    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(
        "writer: {backend: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}\n"
        "painter: {backend: diffusers, model: /nowhere, limits: {concurrency: 2}}\n"
    )
    painter = PreviewPainter()
    models = Models.from_config(load_config(cfg_path), backends={"painter": painter})
    assert models.backend("painter") is painter and models.limits("painter").concurrency == 2
    pic = await models.paint("painter", "x", size=(32, 32), seed=1)
    assert pic.preview and models.usage_report()["roles"]["painter"]["images_made"] == 1


async def test_rpm_and_tpm_buckets_pace_calls_through_the_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    slept: list[float] = []
    monkeypatch.setattr("intersyn.models.limits.time.monotonic", lambda: clock[0])

    async def fake_sleep(s: float) -> None:
        if s > 0:  # the test doubles' own sleep(0) is not pacing
            slept.append(s)
            clock[0] += s

    monkeypatch.setattr("intersyn.models.limits.asyncio.sleep", fake_sleep)
    # rpm 120: 2 calls a second, a burst of 2; four calls wait twice half a second.
    paced = Models(chat={"w": FakeChat()}, limits={"w": Limits(rpm=120)})
    for i in range(4):
        await paced.chat("w", _msg(f"{i}"))
    assert slept == pytest.approx([0.5, 0.5])
    # tpm 600: 10 tokens a second. The first call is estimated at 1 token but used 15
    # (10 in, 5 out): the bucket is debited the difference and the next call waits it out.
    slept.clear()
    metered = Models(chat={"w": FakeChat(tokens=(10, 5))}, limits={"w": Limits(tpm=600)})
    await metered.chat("w", _msg("a"))
    await metered.chat("w", _msg("b"))
    assert slept == pytest.approx([0.7])


def test_latency_percentiles_in_the_usage_report() -> None:
    book = UsageBook()
    for ms in range(1, 101):  # 1 … 100 ms, in a scrambled order
        book.record_ok("judge", "m", Usage(latency_s=((ms * 37) % 100 + 1) / 1000))
    lat = book.report()["roles"]["judge"]["latency_s"]
    assert (lat["p50"], lat["p95"], lat["p99"]) == (0.051, 0.096, 0.1)
    assert lat["mean"] == pytest.approx(0.0505)


async def test_preview_is_never_chosen_silently(tmp_path: Path) -> None:
    from intersyn.config import load_config
    from intersyn.testing import Faults, ScriptedServer

    # A painter section without a backend is an error, not a preview painter.
    bare = tmp_path / "bare.yaml"
    bare.write_text("painter: {model: /models/FLUX.1-schnell}\n")
    with pytest.raises(ConfigError, match=r"bare\.yaml: painter\.backend is not set"):
        Models.from_config(load_config(bare))
    # A real painter that fails ends in a named error; nothing falls back to the preview.
    with ScriptedServer(faults=Faults(rate_503=1.0)) as srv:
        cfg = tmp_path / "run.yaml"
        cfg.write_text(
            f"painter: {{backend: openai-images, model: flux, base_url: {srv.base_url},"
            " limits: {max_retries: 1, backoff_base_s: 0.001}}\n"
        )
        models = Models.from_config(load_config(cfg), cache=False)
        with pytest.raises(ModelCallError, match=r"painter: paint call to model 'flux'.*s5"):
            await models.paint("painter", "a fox", size=(32, 32), seed=1, sample_id="s5")
        await models.aclose()
    report = models.usage_report()["roles"]["painter"]
    assert (report["images_made"], report["failures"]) == (0, 1)


def test_usage_totals_equal_the_reports_total() -> None:
    from intersyn.models.base import Usage
    from intersyn.models.usage import UsageBook

    book = UsageBook()
    for i in range(50):
        book.record_ok("writer", "m", Usage(input_tokens=3, output_tokens=2, latency_s=i / 100))
    book.record_ok("painter", "p", Usage(images_made=1, latency_s=0.5))
    book.record_failure("writer", "m", "timeout", retries=2)
    assert book.totals() == book.report()["total"]
    assert book.totals()["calls"] == 52 and book.totals()["input_tokens"] == 150
