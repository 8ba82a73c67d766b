"""The refine operator and the QR/AR/IR stages built on it, with scripted test doubles."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from intersyn.data.store import RunStore
from intersyn.models.gate import Models
from intersyn.schema import TopicPath
from intersyn.seir.checks import SampleFailed
from intersyn.seir.context import SeirContext
from intersyn.seir.prompts import Prompts
from intersyn.seir.refine import Draft, Evaluation, refine
from intersyn.seir.sample import make_sample
from intersyn.seir.seeds import SampleSeed
from intersyn.seir.topics import load_templates
from tests.fixtures.seir.doubles import (
    TEMPLATES,
    Call,
    ScriptedChat,
    ScriptedPaint,
    config,
    default_respond,
    models,
)

TOPIC = TopicPath(domain="Animals", category="Birds", topic="Snowy owl")


# -- the operator alone --------------------------------------------------------------------


async def test_refine_stops_when_the_critic_approves() -> None:
    seen: list[str] = []

    async def evaluate(d: Draft, k: int) -> Evaluation:
        seen.append(d.text)
        return Evaluation(ok=d.text == "v2", suggestions=[] if d.text == "v2" else ["more"])

    async def revise(d: Draft, ev: Evaluation, k: int) -> Draft:
        return Draft(f"v{k + 1}")

    final, rounds, stop = await refine(Draft("v1"), evaluate, revise, 3, "question")
    assert (final.text, stop) == ("v2", "approved")
    assert seen == ["v1", "v2"]  # each evaluation saw the current draft
    assert [(r.k, r.draft, r.ok, r.revision) for r in rounds] == [
        (1, "v1", False, "v2"),
        (2, "v2", True, None),
    ]


async def test_refine_stops_at_k_when_never_approved() -> None:
    seen: list[str] = []

    async def evaluate(d: Draft, k: int) -> Evaluation:
        seen.append(d.text)
        return Evaluation(ok=False, suggestions=[f"fix {k}"], critique="no")

    async def revise(d: Draft, ev: Evaluation, k: int) -> Draft:
        return Draft(d.text + "+")

    final, rounds, stop = await refine(Draft("x"), evaluate, revise, 3, "answer")
    assert (final.text, stop, len(rounds)) == ("x+++", "max_rounds", 3)
    assert seen == ["x", "x+", "x++"]
    assert [r.suggestions for r in rounds] == [["fix 1"], ["fix 2"], ["fix 3"]]


async def test_refine_k0_is_no_refine() -> None:
    async def never(*a: object) -> Evaluation:
        raise AssertionError("K=0 must not evaluate")

    final, rounds, stop = await refine(Draft("x"), never, never, 0, "image")  # type: ignore[arg-type]
    assert (final.text, rounds, stop) == ("x", [], "no_refine")


# -- stages through make_sample ------------------------------------------------------------


def _ctx(tmp_path: Path, m: Models, k: int = 3, **seir: object) -> SeirContext:
    cfg = config(k=k, **seir)
    return SeirContext(
        models=m,
        store=RunStore(tmp_path),
        settings=cfg.seir,
        prompts=Prompts(),
        templates=load_templates(TEMPLATES),
        fingerprint="test",
    )


def _seed(turns: int = 1) -> SampleSeed:
    return SampleSeed("s000001", 0, TOPIC, "t001", turns, 1234, ("t001", "t002", "t003")[:turns])


async def test_ir_inspects_the_current_caption_and_its_fresh_image(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "caption":
            return json.dumps({"caption": f"caption v{call.n}"})
        return default_respond(call)

    inspected: list[tuple[str, bytes]] = []

    def inspector(call: Call) -> str:
        caption = call.user.split('drawn from this caption: "')[1].split('"')[0]
        inspected.append((caption, call.messages[-1].images[-1]))
        return json.dumps({"ok": False, "suggestions": ["add a snowy branch"]})

    painter = ScriptedPaint()
    w = ScriptedChat(writer)
    insp = ScriptedChat(inspector, vision=True)
    ctx = _ctx(tmp_path, models(writer=w, inspector=insp, painter=painter))
    sample = await make_sample(_seed(), ctx)
    turn = sample.turns[0]
    ir = [r for r in turn.trace if r.stage == "image"]
    assert len(ir) == 3 and turn.stop_reasons["image"] == "max_rounds"
    # round k+1 evaluates exactly what round k revised to, and the inspector saw that
    # caption's own, freshly rendered image
    for prev, nxt in itertools.pairwise(ir):
        assert nxt.draft == prev.revision
    assert [c for c, _ in inspected] == [r.draft for r in ir]
    for r, (_, shown) in zip(ir, inspected, strict=False):
        assert r.image is not None and r.critic_mode == "vision"
        assert (tmp_path / r.image.path).read_bytes() == shown
    assert [p for p, _ in painter.prompts] == [*[r.draft for r in ir], turn.caption]
    # every render is its own file; the final image renders the final caption
    paths = [r.image.path for r in ir if r.image] + [turn.image.path if turn.image else ""]
    assert len(set(paths)) == 4 and paths[-1].endswith("t0_r4.png")
    assert turn.caption == ir[-1].revision and turn.image_seed == turn.image.seed  # type: ignore[union-attr]
    assert len({seed for _, seed in painter.prompts}) == 4


async def test_caption_proxy_when_the_inspector_cannot_see(tmp_path: Path) -> None:
    critic = ScriptedChat()
    ctx = _ctx(tmp_path, models(critic=critic))
    sample = await make_sample(_seed(), ctx)
    ir = [r for r in sample.turns[0].trace if r.stage == "image"]
    assert [r.critic_mode for r in ir] == ["caption-proxy"]
    assert all(not c.messages[-1].images for c in critic.calls)
    assert any("No picture is available" in c.user for c in critic.calls)
    assert sample.meta["inspector"] == {"role": "critic", "mode": "caption-proxy"}
    assert sample.turns[0].stop_reasons == {
        "question": "approved",
        "answer": "approved",
        "image": "approved",
    }


async def test_no_refine_makes_one_draft_per_stage(tmp_path: Path) -> None:
    w = ScriptedChat()
    painter = ScriptedPaint()
    ctx = _ctx(tmp_path, models(writer=w, painter=painter), k=0)
    sample = await make_sample(_seed(), ctx)
    t = sample.turns[0]
    assert t.trace == []
    assert set(t.stop_reasons.values()) == {"no_refine"}
    assert [c.kind for c in w.calls] == ["question", "answer"]  # no critic call at all
    assert len(painter.prompts) == 1 and t.image is not None


async def test_free_text_none_critique_approves(tmp_path: Path) -> None:
    critic = ScriptedChat(lambda c: "None")
    ctx = _ctx(tmp_path, models(critic=critic))
    t = (await make_sample(_seed(), ctx)).turns[0]
    assert set(t.stop_reasons.values()) == {"approved"}
    assert all(r.ok and r.critique == "None" for r in t.trace)


async def test_ar_reads_labelled_sections_without_json(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "answer":
            return "**Answer:** Owls hunt at dusk.\n\n**Caption:** A snowy owl on a fence post"
        return default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)))
    t = (await make_sample(_seed(), ctx)).turns[0]
    assert t.answer == "Owls hunt at dusk."
    ar = [r for r in t.trace if r.stage == "answer"]
    assert ar[0].draft_caption == "A snowy owl on a fence post"


async def test_ar_garbage_is_repaired_once(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "answer" and "could not be read" not in call.user:
            return "lorem ipsum without any structure"
        return default_respond(call)

    w = ScriptedChat(writer)
    ctx = _ctx(tmp_path, models(writer=w))
    t = (await make_sample(_seed(), ctx)).turns[0]
    assert t.answer.startswith("An answer #") and t.caption
    repairs = [c for c in w.calls if "could not be read" in c.user]
    assert len(repairs) == 1 and "lorem ipsum" in repairs[0].user


async def test_retry_asks_again_when_the_cached_repair_was_unusable(tmp_path: Path) -> None:
    # First run: the answer and its repair are garbage (both cached) → the sample fails.
    # A rerun sharing the cache replays both for free, then asks the model for the repair
    # again instead of failing on the same cached garbage.
    from intersyn.models.cache import ResponseCache

    broken = {"on": True}

    def writer(call: Call) -> str:
        if call.kind == "answer" and (broken["on"] or "could not be read" not in call.user):
            return "lorem ipsum without any structure"
        return default_respond(call)

    def gated(w: ScriptedChat) -> Models:
        return Models(
            chat={"writer": w, "critic": w},
            paint={"painter": ScriptedPaint()},
            cache=ResponseCache(tmp_path / "cache.sqlite"),
        )

    first = ScriptedChat(writer)
    with pytest.raises(SampleFailed, match="even after one repair request"):
        await make_sample(_seed(), _ctx(tmp_path / "a", gated(first)))
    broken["on"] = False
    second = ScriptedChat(writer)
    t = (await make_sample(_seed(), _ctx(tmp_path / "b", gated(second)))).turns[0]
    assert t.answer.startswith("An answer #") and t.caption
    live_repairs = [c for c in second.calls if "could not be read" in c.user]
    assert len(live_repairs) == 1  # only the refreshed repair reached the model


async def test_ar_unrepairable_fails_the_sample_with_a_reason(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "answer":
            return json.dumps({"answer": "", "caption": "An owl"})
        return default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)))
    with pytest.raises(SampleFailed, match=r"turn 0 answer: .*answer is empty"):
        await make_sample(_seed(), ctx)


async def test_ar_empty_caption_is_asked_for_on_its_own(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "answer":
            return json.dumps({"answer": "Owls hunt at dusk.", "caption": ""})
        if call.kind == "caption":
            return json.dumps({"caption": "A snowy owl gliding over a field at dusk"})
        return default_respond(call)

    w = ScriptedChat(writer)
    ctx = _ctx(tmp_path, models(writer=w), k=0)
    t = (await make_sample(_seed(), ctx)).turns[0]
    assert (t.answer, t.caption) == (
        "Owls hunt at dusk.",
        "A snowy owl gliding over a field at dusk",
    )
    ar = [r for r in t.trace if r.stage == "answer"]
    assert ar[0].critic_mode == "rule" and ar[0].note == "The caption is empty: write the caption."

    def never(call: Call) -> str:
        if call.kind in ("answer", "caption"):
            return json.dumps({"answer": "Owls.", "caption": ""})
        return default_respond(call)

    ctx = _ctx(tmp_path / "b", models(writer=ScriptedChat(never)), k=1)
    with pytest.raises(SampleFailed, match=r"turn 0 answer: still invalid .*caption is empty"):
        await make_sample(_seed(), ctx)


async def test_refusal_is_revised_then_fails_if_it_persists(tmp_path: Path) -> None:
    state = {"refuse": 1}

    def writer(call: Call) -> str:
        if call.kind == "answer" and state["refuse"] > 0:
            state["refuse"] -= 1
            return json.dumps({"answer": "I can't draw images, sorry.", "caption": "an owl"})
        return default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)))
    t = (await make_sample(_seed(), ctx)).turns[0]
    first = next(r for r in t.trace if r.stage == "answer")
    assert not first.ok and first.note and "refusal" in first.note
    assert t.answer.startswith("An answer #")

    state["refuse"] = 100
    ctx = _ctx(tmp_path / "b", models(writer=ScriptedChat(writer)), k=1)
    with pytest.raises(SampleFailed, match="refusal"):
        await make_sample(_seed(), ctx)


async def test_empty_question_fails_with_reason(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        return json.dumps({"question": "  "}) if call.kind == "question" else default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)), k=1)
    with pytest.raises(SampleFailed, match=r"turn 0 question: .*question is empty"):
        await make_sample(_seed(), ctx)


async def test_word_limits_are_enforced_by_revision_and_recorded(tmp_path: Path) -> None:
    long_q = " ".join(["word"] * 70)

    def writer(call: Call) -> str:
        if call.kind == "question":
            # The draft is too long; the first revision asked to shorten it complies.
            short = "shorten it to at most 50 words" in call.user
            return json.dumps({"question": "Explain owls and draw one?" if short else long_q})
        return default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)))
    t = (await make_sample(_seed(), ctx)).turns[0]
    qr = [r for r in t.trace if r.stage == "question"]
    assert qr[0].note == "The question has 70 words; shorten it to at most 50 words."
    assert not qr[0].ok and t.question == "Explain owls and draw one?"


async def test_word_limit_cut_when_revision_never_complies(tmp_path: Path) -> None:
    long_c = " ".join(["owl"] * 80)

    def writer(call: Call) -> str:
        if call.kind == "answer":
            return json.dumps({"answer": "Owls.", "caption": long_c})
        if call.kind == "caption":
            return json.dumps({"caption": long_c})
        return default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)), k=1)
    t = (await make_sample(_seed(), ctx)).turns[0]
    assert len(t.caption.split()) == 65
    cut = [r for r in t.trace if r.note and r.note.startswith("cut at the word limit")]
    assert cut and all(r.critic_mode == "rule" for r in cut)


async def test_multi_turn_history_reaches_every_stage(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "question":
            return json.dumps({"question": f"Question number {call.n}, with a picture?"})
        return default_respond(call)

    w = ScriptedChat(writer)
    insp = ScriptedChat(vision=True)
    ctx = _ctx(tmp_path, models(writer=w, inspector=insp), turns=3)
    sample = await make_sample(_seed(turns=3), ctx)
    assert [t.index for t in sample.turns] == [0, 1, 2]
    q0, q1 = sample.turns[0].question, sample.turns[1].question
    later = [c for c in w.calls if "Earlier turns" in c.user]
    assert later and all(q0 in c.user for c in later)
    assert any(q1 in c.user for c in later)
    assert any("do not repeat" in c.user for c in later)
    # the vision inspector gets the earlier turns' images, then the current one
    last = insp.calls[-1].messages[-1].images
    assert len(last) == 3
    # ... and is told which of them to judge: the last one, drawn from the current caption
    assert "The last attached picture is the one to judge" in insp.calls[-1].user
    assert "The attached picture was drawn" in insp.calls[0].user  # turn 0: no history
    assert last[0] == (tmp_path / sample.turns[0].image.path).read_bytes()  # type: ignore[union-attr]
    assert sample.meta["turn_templates"] == ["t001", "t002", "t003"]


async def test_empty_question_is_drafted_again_with_a_note(tmp_path: Path) -> None:
    def writer(call: Call) -> str:
        if call.kind == "question":
            again = "previous reply had no question" in call.user
            return json.dumps({"question": "Why do owls hoot? Draw one." if again else ""})
        return default_respond(call)

    w = ScriptedChat(writer)
    ctx = _ctx(tmp_path, models(writer=w), k=1)
    t = (await make_sample(_seed(), ctx)).turns[0]
    assert t.question == "Why do owls hoot? Draw one."
    first = next(r for r in t.trace if r.stage == "question")
    assert first.draft == "" and first.note == "The question is empty: write the question."


async def test_a_later_turn_repeating_an_earlier_question_is_revised_or_fails(
    tmp_path: Path,
) -> None:
    same = "Why do owls hoot? Show me one."

    def writer(call: Call) -> str:
        if call.kind == "question":
            fixed = "repeats turn 1's question" in call.user
            return json.dumps({"question": "What do owls eat? Draw it." if fixed else same})
        return default_respond(call)

    ctx = _ctx(tmp_path, models(writer=ScriptedChat(writer)), turns=2)
    sample = await make_sample(_seed(turns=2), ctx)
    assert [t.question for t in sample.turns] == [same, "What do owls eat? Draw it."]
    first = next(r for r in sample.turns[1].trace if r.stage == "question")
    assert not first.ok and first.draft == same
    assert first.note and "repeats turn 1's question" in first.note

    def stubborn(call: Call) -> str:  # case and punctuation do not hide a repeat
        if call.kind == "question":
            return json.dumps({"question": same if "Turn 1" not in call.user else same.upper()})
        return default_respond(call)

    ctx = _ctx(tmp_path / "b", models(writer=ScriptedChat(stubborn)), k=1, turns=2)
    with pytest.raises(SampleFailed, match=r"turn 1 question: still invalid .*repeats turn 1"):
        await make_sample(_seed(turns=2), ctx)
