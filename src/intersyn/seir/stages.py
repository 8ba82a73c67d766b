"""QR, AR and IR: three uses of the one refine operator (PAPER.md, SEIR).

Each stage builds an ``evaluate`` (rule checks + the critic on the **current** draft) and a
``revise`` (the writer applies the suggestions), runs :func:`refine` for K rounds, and then
enforces the hard rules (no empty text, no refusal, word limits) with the same operator and a
rule-only evaluator. A word limit still broken after those revisions is cut at the limit,
recorded as a round with a note; an empty answer or a refusal fails the sample with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from intersyn.schema import ImageRef, Round, Stage, StopReason
from intersyn.seir import parse
from intersyn.seir.checks import SampleFailed, problems, repeats, truncate_words
from intersyn.seir.context import SeirContext, TurnContext
from intersyn.seir.refine import Draft, Evaluation, Revise, refine

#: Extra rule-only revision rounds after the critic's K rounds.
ENFORCE_ROUNDS = 2

Rules = Callable[[Draft], list[str]]


@dataclass
class StageResult:
    draft: Draft
    rounds: list[Round]
    stop: StopReason


def _merge(rules: list[str], critique: parse.Critique, mode: str) -> Evaluation:
    """The critic's verdict with rule violations added: a violation always blocks approval.
    ``ok`` is what the critic said (its flag when it gave one); the refine operator decides
    by the suggestions."""
    said = critique.ok if critique.said_ok is None else critique.said_ok
    return Evaluation(
        ok=said and not rules,
        suggestions=[*rules, *critique.suggestions],
        critique=critique.text,
        critic_mode=mode,
        note="; ".join(rules) if rules else None,
    )


async def _enforce(
    stage: Stage,
    result: StageResult,
    rules: Rules,
    revise: Revise,
    *,
    cut: Callable[[Draft], Draft] | None,
    what: str,
) -> StageResult:
    """Revise until the rules pass (bounded), then cut word limits or fail with a reason."""

    async def rule_check(draft: Draft, k: int) -> Evaluation:
        found = rules(draft)
        return Evaluation(
            ok=not found,
            suggestions=found,
            critique="(rule check)",
            critic_mode="rule",
            note="; ".join(found) if found else None,
        )

    if not rules(result.draft):
        return result
    first_k = len(result.rounds) + 1
    final, extra, _ = await refine(
        result.draft, rule_check, revise, ENFORCE_ROUNDS, stage, first_k=first_k
    )
    rounds = [*result.rounds, *extra]
    left = rules(final)
    if left and cut is not None and all("words; shorten" in p for p in left):
        shortened = cut(final)
        rounds.append(
            Round(
                stage=stage,
                k=len(rounds) + 1,
                draft=final.text,
                draft_caption=final.caption,
                critique="(rule check)",
                suggestions=left,
                ok=False,
                revision=shortened.text,
                revision_caption=shortened.caption,
                critic_mode="rule",
                note=f"cut at the word limit after {ENFORCE_ROUNDS} revisions: " + "; ".join(left),
            )
        )
        return StageResult(shortened, rounds, result.stop)
    if left:
        raise SampleFailed(f"{what}: still invalid after {ENFORCE_ROUNDS} revisions: {left[0]}")
    return StageResult(final, rounds, result.stop)


# -- QR ------------------------------------------------------------------------------------


async def question_refinement(ctx: SeirContext, tc: TurnContext, template: str) -> StageResult:
    """QR: draft a question from topic, template and history; critic ↔ writer for K rounds."""
    limit = ctx.settings.max_question_words
    where = f"turn {tc.turn} question"

    earlier = [h.question for h in tc.history]

    def rules(d: Draft) -> list[str]:
        return [*problems(d.text, "question", limit), *repeats(d.text, earlier, "question")]

    def read(text: str) -> Draft:
        return Draft(parse.field_text(text, "question", ("q",)))

    first = await ctx.ask_parsed(
        tc,
        "writer",
        "question_draft",
        {"template": template, "retry_note": None},
        parser=read,
        schema=parse.QUESTION_SCHEMA,
        purpose="qr.draft",
        what=where,
    )

    async def evaluate(d: Draft, k: int) -> Evaluation:
        found = rules(d)
        if not d.text.strip():
            return _merge(found, parse.Critique(ok=False), "rule")
        reply = await ctx.ask(
            tc,
            "critic",
            "question_critique",
            {"question": d.text},
            system="system_critic",
            schema=parse.CRITIQUE_SCHEMA,
            purpose=f"qr.critique.{k}",
        )
        return _merge(found, parse.critique(reply.text), "text")

    async def revise(d: Draft, ev: Evaluation, k: int) -> Draft:
        if not d.text.strip():  # nothing to revise: draft again, saying the last was empty
            return await ctx.ask_parsed(
                tc,
                "writer",
                "question_draft",
                {"template": template, "retry_note": ev.suggestions[0]},
                parser=read,
                schema=parse.QUESTION_SCHEMA,
                purpose=f"qr.redraft.{k}",
                what=where,
            )
        return await ctx.ask_parsed(
            tc,
            "writer",
            "question_revise",
            {"question": d.text, "suggestions": ev.suggestions},
            parser=read,
            schema=parse.QUESTION_SCHEMA,
            purpose=f"qr.revise.{k}",
            what=where,
        )

    final, rounds, stop = await refine(first, evaluate, revise, ctx.settings.k_question, "question")
    return await _enforce(
        "question",
        StageResult(final, rounds, stop),
        rules,
        revise,
        cut=lambda d: Draft(truncate_words(d.text, limit)),
        what=where,
    )


# -- AR ------------------------------------------------------------------------------------


def _read_answer(text: str) -> Draft:
    # An empty caption beside a real answer is flagged by the rules and asked for on its own.
    answer, caption = parse.answer_caption(text, allow_empty_caption=True)
    return Draft(answer, caption)


async def answer_refinement(ctx: SeirContext, tc: TurnContext, question: str) -> StageResult:
    """AR: answer text + temporary caption, written for synergy; critic ↔ writer for K rounds."""
    limit = ctx.settings.max_caption_words
    where = f"turn {tc.turn} answer"

    def rules(d: Draft) -> list[str]:
        return [*problems(d.text, "answer text"), *problems(d.caption or "", "caption", limit)]

    first = await ctx.ask_parsed(
        tc,
        "writer",
        "answer_draft",
        {"question": question},
        parser=_read_answer,
        schema=parse.ANSWER_SCHEMA,
        purpose="ar.draft",
        what=where,
    )

    async def evaluate(d: Draft, k: int) -> Evaluation:
        reply = await ctx.ask(
            tc,
            "critic",
            "answer_critique",
            {"question": question, "answer": d.text, "caption": d.caption},
            system="system_critic",
            schema=parse.CRITIQUE_SCHEMA,
            purpose=f"ar.critique.{k}",
        )
        return _merge(rules(d), parse.critique(reply.text), "text")

    async def revise(d: Draft, ev: Evaluation, k: int) -> Draft:
        if not (d.caption or "").strip():  # a focused request for the missing caption
            caption = await ctx.ask_parsed(
                tc,
                "writer",
                "caption_revise",
                {
                    "question": question,
                    "answer": d.text,
                    "caption": "",
                    "suggestions": ev.suggestions,
                },
                parser=lambda text: parse.field_text(text, "caption", ("image caption",)),
                schema=parse.CAPTION_SCHEMA,
                purpose=f"ar.caption.{k}",
                what=where,
            )
            return Draft(d.text, caption)
        return await ctx.ask_parsed(
            tc,
            "writer",
            "answer_revise",
            {
                "question": question,
                "answer": d.text,
                "caption": d.caption,
                "suggestions": ev.suggestions,
            },
            parser=_read_answer,
            schema=parse.ANSWER_SCHEMA,
            purpose=f"ar.revise.{k}",
            what=where,
        )

    final, rounds, stop = await refine(first, evaluate, revise, ctx.settings.k_answer, "answer")
    return await _enforce(
        "answer",
        StageResult(final, rounds, stop),
        rules,
        revise,
        cut=lambda d: Draft(d.text, truncate_words(d.caption or "", limit)),
        what=where,
    )


# -- IR ------------------------------------------------------------------------------------


@dataclass
class ImageResult(StageResult):
    image: ImageRef
    png: bytes


async def image_refinement(
    ctx: SeirContext, tc: TurnContext, question: str, answer: str, caption: str
) -> ImageResult:
    """IR: render the caption, inspect the image (or the caption), revise, render again.

    Every round renders the *current* caption and the inspector sees that image (or, in
    caption-proxy mode, that caption). Every render is stored; the final image is the
    render of the final caption.
    """
    limit = ctx.settings.max_caption_words
    where = f"turn {tc.turn} caption"
    role, mode = ctx.inspector()
    renders: list[tuple[str, ImageRef, bytes]] = []

    async def render(text: str) -> tuple[ImageRef, bytes]:
        ref, png = await ctx.paint(tc, text, len(renders) + 1)
        renders.append((text, ref, png))
        return ref, png

    def rules(d: Draft) -> list[str]:
        return problems(d.text, "caption", limit)

    async def evaluate(d: Draft, k: int) -> Evaluation:
        ref, png = await render(d.text)
        reply = await ctx.ask(
            tc,
            role,
            "image_critique",
            {"question": question, "answer": answer, "caption": d.text, "mode": mode},
            system="system_inspector",
            schema=parse.CRITIQUE_SCHEMA,
            purpose=f"ir.critique.{k}",
            images=[png] if mode == "vision" else [],
        )
        ev = _merge(rules(d), parse.critique(reply.text), mode)
        ev.image = ref
        return ev

    async def revise(d: Draft, ev: Evaluation, k: int) -> Draft:
        return await ctx.ask_parsed(
            tc,
            "writer",
            "caption_revise",
            {
                "question": question,
                "answer": answer,
                "caption": d.text,
                "suggestions": ev.suggestions,
            },
            parser=lambda text: Draft(parse.field_text(text, "caption", ("image caption",))),
            schema=parse.CAPTION_SCHEMA,
            purpose=f"ir.revise.{k}",
            what=where,
        )

    final, rounds, stop = await refine(
        Draft(caption), evaluate, revise, ctx.settings.k_image, "image"
    )
    result = await _enforce(
        "image",
        StageResult(final, rounds, stop),
        rules,
        revise,
        cut=lambda d: Draft(truncate_words(d.text, limit)),
        what=where,
    )
    text = result.draft.text
    if renders and renders[-1][0] == text:
        _, ref, png = renders[-1]
    else:
        ref, png = await render(text)
    return ImageResult(result.draft, result.rounds, result.stop, image=ref, png=png)
