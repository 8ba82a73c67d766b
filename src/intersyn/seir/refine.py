"""THE refine operator: ``x_k = revise(x_{k-1}, evaluate(x_{k-1}))`` until approved or K rounds.

QR, AR and IR (``seir.stages``) are three uses of this one function; the rule enforcement of
word limits and refusals is a fourth use with a rule-based evaluator. Each round's evaluation
sees the **current** draft: ``evaluate`` is called with the draft being judged, and for IR it
renders that draft's caption before inspecting it (the public reference code critiqued the
first caption in every round; this operator cannot).

Example::

    final, rounds, stop = await refine(Draft("What is a fox?"), evaluate, revise, 3, "question")
    # stop in {"approved", "max_rounds", "no_refine"}; rounds: one schema.Round per round
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from intersyn.schema import ImageRef, Round, Stage, StopReason


@dataclass(frozen=True)
class Draft:
    """What a stage refines: a question, an answer text with its caption, or a caption."""

    text: str
    caption: str | None = None


@dataclass
class Evaluation:
    """One critique of the current draft, plus what the critic looked at.

    ``ok`` is the evaluator's own verdict as it said it; :func:`refine` decides by
    ``suggestions`` alone (none: approved; any: revised) and notes when the two disagree.
    """

    ok: bool
    suggestions: list[str] = field(default_factory=list)
    critique: str = ""
    critic_mode: str | None = None
    #: IR: the image rendered from the draft's caption that the inspector saw.
    image: ImageRef | None = None
    note: str | None = None


Evaluate = Callable[[Draft, int], Awaitable[Evaluation]]
Revise = Callable[[Draft, Evaluation, int], Awaitable[Draft]]


async def refine(
    draft: Draft,
    evaluate: Evaluate,
    revise: Revise,
    k_max: int,
    stage: Stage,
    *,
    first_k: int = 1,
) -> tuple[Draft, list[Round], StopReason]:
    """Refine ``draft`` for at most ``k_max`` rounds; return (final, rounds, stop reason).

    A round evaluates the current draft; if the evaluation has no suggestion, the loop stops
    (``approved``) and the draft is final; otherwise the writer revises and the revision
    becomes the current draft. This is the one rule (PAPER.md: the loop stops when the critic
    has no suggestion): an evaluation that says ok but lists suggestions is revised, and the
    round's ``ok`` records the decision, its ``note`` the disagreement. After ``k_max`` rounds without approval the last revision is
    final (``max_rounds``). ``k_max == 0`` returns the draft untouched (``no_refine``).
    ``first_k`` numbers the rounds when a loop continues an earlier one's trace.
    """
    if k_max <= 0:
        return draft, [], "no_refine"
    rounds: list[Round] = []
    current = draft
    for i in range(k_max):
        k = first_k + i
        ev = _decided(await evaluate(current, k))
        if ev.ok:
            rounds.append(_round(stage, k, current, ev, None))
            return current, rounds, "approved"
        revised = await revise(current, ev, k)
        rounds.append(_round(stage, k, current, ev, revised))
        current = revised
    return current, rounds, "max_rounds"


def _decided(ev: Evaluation) -> Evaluation:
    """``ev`` with ``ok`` set by the rule (no suggestion = approved), and a note when the
    evaluator's own verdict said otherwise."""
    approved = not ev.suggestions
    if ev.ok == approved:
        return ev
    if approved:
        why = "the critic said not ok but suggested nothing: approved (nothing to change)"
    else:
        n = len(ev.suggestions)
        why = f"the critic said ok but made {n} suggestion(s): revised (suggestions decide)"
    note = f"{ev.note}; {why}" if ev.note else why
    return replace(ev, ok=approved, note=note)


def _round(stage: Stage, k: int, draft: Draft, ev: Evaluation, revised: Draft | None) -> Round:
    return Round(
        stage=stage,
        k=k,
        draft=draft.text,
        draft_caption=draft.caption,
        image=ev.image,
        critique=ev.critique,
        suggestions=list(ev.suggestions),
        ok=ev.ok,
        revision=revised.text if revised is not None else None,
        revision_caption=revised.caption if revised is not None else None,
        critic_mode=ev.critic_mode,
        note=ev.note,
    )
