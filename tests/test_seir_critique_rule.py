"""Issue 11, item 5: one rule for a critique — suggestions mean "revise" (PAPER.md: the loop
stops when the critic has no suggestion) — applied in the refine operator, recorded in the
trace, and shown by the viewer."""

from __future__ import annotations

import json
from pathlib import Path

from intersyn.data.store import RunStore
from intersyn.report.viewer import build_site, sample_page
from intersyn.seir import parse
from intersyn.seir.refine import Draft, Evaluation, refine
from intersyn.seir.sample import make_sample
from tests.fixtures.seir.doubles import Call, ScriptedChat, default_respond, models
from tests.test_seir_refine import _ctx, _seed


def test_ok_true_with_suggestions_is_not_an_approval() -> None:
    c = parse.critique('{"ok": true, "suggestions": ["mention the season"]}')
    assert (c.ok, c.said_ok, c.suggestions) == (False, True, ["mention the season"])
    c = parse.critique('{"ok": false, "suggestions": []}')
    assert (c.ok, c.said_ok, c.suggestions) == (True, False, [])


async def test_the_operator_revises_when_an_ok_lists_suggestions() -> None:
    async def evaluate(d: Draft, k: int) -> Evaluation:
        if d.text == "v1":
            return Evaluation(ok=True, suggestions=["mention the season"], critique="ok, but")
        return Evaluation(ok=True, suggestions=[], critique="fine")

    async def revise(d: Draft, ev: Evaluation, k: int) -> Draft:
        return Draft("v2")

    final, rounds, stop = await refine(Draft("v1"), evaluate, revise, 3, "question")
    assert (final.text, stop) == ("v2", "approved")
    first = rounds[0]
    assert (first.ok, first.revision) == (False, "v2")
    assert "said ok but made 1 suggestion(s): revised" in (first.note or "")
    assert rounds[1].ok and rounds[1].note is None


async def test_sample_trace_and_viewer_show_the_decision(tmp_path: Path) -> None:
    seen: list[int] = []

    def critic(call: Call) -> str:
        if call.kind != "critique":
            return default_respond(call)
        seen.append(call.n)
        if len(seen) == 1:  # the first critique: "ok" and a suggestion
            return json.dumps({"ok": True, "suggestions": ["name the owl's prey"]})
        return json.dumps({"ok": True, "suggestions": []})

    ctx = _ctx(tmp_path / "run", models(critic=ScriptedChat(critic)))
    sample = await make_sample(_seed(), ctx)
    qr = [r for r in sample.turns[0].trace if r.stage == "question"]
    assert [r.ok for r in qr] == [False, True]
    assert qr[0].revision is not None and qr[1].draft == qr[0].revision
    ctx.store.commit(sample)
    ctx.store.close()
    site = tmp_path / "site"
    build_site(tmp_path / "run", site)
    page = (site / sample_page(sample.id)).read_text()
    assert "decided: revise · 1 suggestion" in page and "name the owl&#39;s prey" in page
    assert "said ok but made 1 suggestion(s): revised" in page
    assert "decided: approved · nothing to change" in page
    assert RunStore(tmp_path / "run").done_ids() == {sample.id}
