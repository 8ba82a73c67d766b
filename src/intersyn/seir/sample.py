"""The multi-turn sample loop: one topic, turns 1..T, QR → AR → IR per turn, history to all.

:func:`make_sample` is the unit of work of every engine: the local asyncio engine runs many
at once; the Ray engine calls the same function on a worker with a context built there.
"""

from __future__ import annotations

from intersyn.schema import Sample, Turn
from intersyn.seir.context import SeirContext, TurnContext
from intersyn.seir.seeds import SampleSeed
from intersyn.seir.stages import answer_refinement, image_refinement, question_refinement


async def make_sample(seed: SampleSeed, ctx: SeirContext) -> Sample:
    """Make one sample from its seed. Raises SampleFailed (with a reason) or ModelError.

    Images are stored as they are rendered; the sample itself is returned, not committed
    (the engine commits it, so "durable before counted" stays in one place).
    """
    turns: list[Turn] = []
    images: list[bytes] = []
    templates = seed.turn_templates or (seed.template_id,)
    for t in range(seed.turns):
        tc = TurnContext(
            sample_id=seed.sample_id,
            seed=seed.seed,
            turn=t,
            topic=seed.topic,
            history=tuple(turns),
            history_images=tuple(images),
        )
        template = ctx.templates.by_id(templates[min(t, len(templates) - 1)])
        qr = await question_refinement(ctx, tc, template.fill(seed.topic.topic))
        question = qr.draft.text
        ar = await answer_refinement(ctx, tc, question)
        answer, caption = ar.draft.text, ar.draft.caption or ""
        ir = await image_refinement(ctx, tc, question, answer, caption)
        turns.append(
            Turn(
                index=t,
                question=question,
                answer=answer,
                caption=ir.draft.text,
                image=ir.image,
                image_seed=ir.image.seed,
                trace=[*qr.rounds, *ar.rounds, *ir.rounds],
                stop_reasons={"question": qr.stop, "answer": ar.stop, "image": ir.stop},
            )
        )
        images.append(ir.png)
    role, mode = ctx.inspector()
    return Sample(
        id=seed.sample_id,
        topic=seed.topic,
        template=seed.template_id,
        seed=seed.seed,
        config_fingerprint=ctx.fingerprint,
        turns=turns,
        meta={
            "index": seed.index,
            "turn_templates": list(templates[: seed.turns]),
            "inspector": {"role": role, "mode": mode},
            "models": {
                r: ctx.models.model_name(r)
                for r in ("writer", "critic", "inspector", "painter")
                if ctx.models.has(r)
            },
        },
    )
