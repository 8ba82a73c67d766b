"""The judge runner with a test-double chat backend: hard rules, repair, unparsed, draws,
caption-proxy, resume, and judgement sets that never mix."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from intersyn.config import RunConfig
from intersyn.errors import ConfigError, InputError
from intersyn.judge.runner import draw_seed, run_judge
from intersyn.judge.store import load_judgements, load_set
from intersyn.models.base import ChatMessage, ChatResult
from intersyn.models.gate import Models
from intersyn.schema import Judgement

GOOD = "TCC: 4\nICC: 3\nIQ: 5\nITS: 2"


class ScriptedJudge:
    """Test double of a chat backend: ``reply(messages, params, seed) -> text`` scripts it."""

    name = "scripted-judge"

    def __init__(
        self,
        reply: Callable[[list[ChatMessage], dict[str, Any] | None, int | None], str] | None = None,
        *,
        model: str = "judge-a",
        vision: bool = True,
        fail: Callable[[list[ChatMessage]], bool] | None = None,
    ) -> None:
        self.model = model
        self.vision = vision
        self._reply = reply or (lambda m, p, s: GOOD)
        self._fail = fail
        self.calls: list[dict[str, Any]] = []

    async def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        timeout_s: float | None = None,
    ) -> ChatResult:
        self.calls.append({"messages": messages, "schema": schema, "params": params, "seed": seed})
        if self._fail is not None and self._fail(messages):
            raise RuntimeError("server said 500")
        return ChatResult(text=self._reply(messages, params, seed), model=self.model)

    async def aclose(self) -> None:
        return None


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


def write_answers(folder: Path, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ok.png").write_bytes(png())
    (folder / "corrupt.png").write_bytes(b"\x89PNG not really")
    path = folder / "answers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def judge(tmp: Path, answers: Path, backend: ScriptedJudge, **kw: Any) -> list[Judgement]:
    set_dir = run_judge(
        answers, RunConfig(), tmp / "out", models=Models(chat={"judge": backend}), **kw
    )
    return sorted(load_judgements(set_dir), key=lambda j: (j.sample_id, j.turn))


def user_text(call: dict[str, Any]) -> str:
    return call["messages"][1].content


def test_scores_parsed_and_recorded(tmp_path: Path) -> None:
    answers = write_answers(
        tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    )
    backend = ScriptedJudge()
    [j] = judge(tmp_path, answers, backend)
    assert (j.tcc, j.icc, j.iq, j.its) == (4, 3, 5, 2)
    assert j.status == "ok" and j.mode == "vision" and j.raw == [GOOD]
    assert j.judge_model == "judge-a" and j.rubric_version == "synjudge@1"
    assert backend.calls[0]["schema"]["required"] == ["tcc", "icc", "iq", "its"]
    assert backend.calls[0]["messages"][1].images == [png()]  # the image is shown


def test_hard_rules_are_applied_in_code_with_reasons(tmp_path: Path) -> None:
    rows = [
        {"id": "notext", "question": "q", "answer": "  ", "image": "ok.png"},
        {"id": "noimage", "question": "q", "answer": "t", "image": None},
        {"id": "missing", "question": "q", "answer": "t", "image": "gone.png"},
        {"id": "corrupt", "question": "q", "answer": "t", "image": "corrupt.png"},
        {"id": "nothing", "question": "q", "answer": "", "image": None},
    ]
    backend = ScriptedJudge()  # claims 4/3/5/2 for everything
    js = {j.sample_id: j for j in judge(tmp_path, write_answers(tmp_path, rows), backend)}
    assert js["notext"].scores() == {"tcc": 0, "icc": 3, "iq": 5, "its": 0}
    assert js["notext"].forced == ["no text: tcc=its=0"]
    for sid in ("noimage", "missing", "corrupt"):
        assert js[sid].scores() == {"tcc": 4, "icc": 0, "iq": 0, "its": 0}, sid
        assert js[sid].status == "ok"
    assert "has no image" in js["noimage"].forced[0]
    assert "gone.png" in js["missing"].forced[0] and "not found" in js["missing"].forced[0]
    assert "corrupt" in js["corrupt"].forced[0] and "corrupt.png" in js["corrupt"].forced[0]
    assert js["corrupt"].error is None  # the call worked: the reason lives in `forced`
    from intersyn.judge.runner import image_problem

    assert image_problem(js["missing"]).startswith("image file 'gone.png' not found")  # type: ignore[union-attr]
    assert image_problem(js["noimage"]) is None
    assert js["nothing"].scores() == dict.fromkeys(("tcc", "icc", "iq", "its"), 0)
    assert len(backend.calls) == 4  # nothing left to judge → no call
    from intersyn.judge.summary import forced_dims  # what the instability leaves out

    assert forced_dims(js["notext"]) == {"tcc", "its"}
    assert all(
        forced_dims(js[s]) == {"icc", "iq", "its"} for s in ("noimage", "missing", "corrupt")
    )
    assert forced_dims(js["nothing"]) == {"tcc", "icc", "iq", "its"}


def test_one_repair_with_the_error_then_ok(tmp_path: Path) -> None:
    replies = iter(["The scores are 4, 3, 5 and 2.", '{"tcc": 1, "icc": 2, "iq": 3, "its": 4}'])
    backend = ScriptedJudge(lambda m, p, s: next(replies))
    answers = write_answers(
        tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    )
    [j] = judge(tmp_path, answers, backend)
    assert j.scores() == {"tcc": 1, "icc": 2, "iq": 3, "its": 4}
    assert len(j.raw) == 2 and len(backend.calls) == 2
    repair = backend.calls[1]["messages"]
    assert repair[-2].role == "assistant" and repair[-2].content.startswith("The scores")
    assert "no labelled score for tcc, icc, iq, its" in repair[-1].content


def test_unparsed_after_failed_repair_never_gets_numbers(tmp_path: Path) -> None:
    backend = ScriptedJudge(lambda m, p, s: "TCC: 4\nICC: 3\nIQ: 5\nITS: 9")
    answers = write_answers(
        tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    )
    [j] = judge(tmp_path, answers, backend)
    assert j.status == "unparsed"
    assert j.scores() == dict.fromkeys(("tcc", "icc", "iq", "its"))
    assert len(j.raw) == 2 and "its value 9 is outside 0-5" in (j.error or "")


def test_repair_is_asked_afresh_when_the_cached_reply_is_unreadable(tmp_path: Path) -> None:
    """A second judge run sharing the response cache replays the unreadable first reply, but
    does not replay its failed repair: the repair is asked again and now succeeds."""
    answers = write_answers(
        tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    )
    cache = tmp_path / "cache.sqlite"
    bad = ScriptedJudge(lambda m, p, s: "TCC: 4\nICC: 3\nIQ: 5\nITS: 9")
    first = run_judge(
        answers, RunConfig(), tmp_path / "one", models=Models({"judge": bad}, cache=cache)
    )
    [j1] = load_judgements(first)
    fixed = ScriptedJudge(lambda m, p, s: '{"tcc": 1, "icc": 2, "iq": 3, "its": 4}')
    second = run_judge(
        answers, RunConfig(), tmp_path / "two", models=Models({"judge": fixed}, cache=cache)
    )
    [j2] = load_judgements(second)
    assert j1.status == "unparsed" and len(bad.calls) == 2
    assert j2.status == "ok" and j2.scores() == {"tcc": 1, "icc": 2, "iq": 3, "its": 4}
    assert len(fixed.calls) == 1  # only the repair: the first reply came from the cache
    assert fixed.calls[0]["messages"][-2].content.endswith("ITS: 9")
    assert j2.raw == ["TCC: 4\nICC: 3\nIQ: 5\nITS: 9", '{"tcc": 1, "icc": 2, "iq": 3, "its": 4}']


def test_call_failure_is_error_and_retried_on_rerun(tmp_path: Path) -> None:
    rows = [{"id": x, "question": "q", "answer": "t", "image": "ok.png"} for x in ("a", "b")]
    answers = write_answers(tmp_path, rows)
    flaky = ScriptedJudge(fail=lambda m: True)
    js = judge(tmp_path, answers, flaky)
    assert [j.status for j in js] == ["error", "error"]
    assert "server said 500" in (js[0].error or "")
    healthy = ScriptedJudge()
    js = judge(tmp_path, answers, healthy)
    assert [j.status for j in js] == ["ok", "ok"] and len(healthy.calls) == 2


def test_rerun_skips_done_turns_and_never_duplicates(tmp_path: Path) -> None:
    rows = [{"id": f"s{i}", "question": "q", "answer": "t", "image": "ok.png"} for i in range(6)]
    answers = write_answers(tmp_path, rows)
    first = ScriptedJudge()
    judge(tmp_path, answers, first, limit=4)
    assert len(first.calls) == 4
    second = ScriptedJudge()
    js = judge(tmp_path, answers, second)
    assert len(second.calls) == 2
    assert sorted(j.sample_id for j in js) == [f"s{i}" for i in range(6)]
    parts = list((tmp_path / "out").rglob("judgements-*.jsonl"))
    lines = [json.loads(x) for p in parts for x in p.read_text().splitlines()]
    assert len(lines) == 6  # one record per turn across both runs


def test_other_judge_or_rubric_makes_a_separate_set(tmp_path: Path) -> None:
    answers = write_answers(
        tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    )
    judge(tmp_path, answers, ScriptedJudge(model="judge-a"))
    judge(tmp_path, answers, ScriptedJudge(model="judge-b"))
    rubric = tmp_path / "rubric.yaml"
    from intersyn.judge.rubric import default_rubric_path

    rubric.write_text(default_rubric_path().read_text().replace('version: "1"', 'version: "2"'))
    judge(tmp_path, answers, ScriptedJudge(model="judge-a"), rubric_path=rubric)
    sets = sorted(p.name for p in (tmp_path / "out" / "judgements").iterdir())
    assert len(sets) == 3
    assert {
        load_set(tmp_path / "out" / "judgements" / s).judgements[0].judge_model for s in sets
    } == {
        "judge-a",
        "judge-b",
    }
    with pytest.raises(InputError, match="holds 3 judgement sets"):
        load_judgements(tmp_path / "out")
    # Same version, changed text: refused rather than mixed.
    rubric.write_text(rubric.read_text().replace("There is no answer text.", "No text at all."))
    with pytest.raises(ConfigError, match="bump `version`"):
        judge(tmp_path, answers, ScriptedJudge(model="judge-a"), rubric_path=rubric)


def test_caption_proxy_mode_is_marked_and_gets_the_caption(tmp_path: Path) -> None:
    rows = [{"id": "a", "question": "q", "answer": "t", "image": "ok.png", "caption": "a red fox"}]
    backend = ScriptedJudge(vision=False)
    [j] = judge(tmp_path, write_answers(tmp_path, rows), backend)
    assert j.mode == "caption-proxy"
    assert backend.calls[0]["messages"][1].images == []
    assert "a red fox" in user_text(backend.calls[0])
    assert "caption-proxy" in load_set(tmp_path / "out").path.name


def test_multi_turn_sees_earlier_turns_as_context(tmp_path: Path) -> None:
    rows = [
        {
            "id": "d",
            "turn": 1,
            "question": "second question",
            "answer": "second",
            "image": "ok.png",
        },
        {"id": "d", "turn": 0, "question": "first question", "answer": "first", "image": "ok.png"},
    ]
    backend = ScriptedJudge()
    judge(tmp_path, write_answers(tmp_path, rows), backend)
    texts = sorted((user_text(c) for c in backend.calls), key=len)
    assert "first question" not in texts[0].split("## Current turn")[0]
    later = texts[1]
    assert (
        later.index("first question")
        < later.index("## Current turn")
        < later.index("second question")
    )


def test_k_draws_seeded_at_temperature_with_spread(tmp_path: Path) -> None:
    scripted = {
        0: "TCC: 2\nICC: 3\nIQ: 5\nITS: 4",
        1: "TCC: 3\nICC: 3\nIQ: 5\nITS: 2",
        2: "nothing",
        3: "TCC: 3\nICC: 3\nIQ: 5\nITS: 3",
    }
    seeds = {draw_seed(0, "a", 0, i): i for i in range(4)}
    backend = ScriptedJudge(lambda m, p, s: scripted[seeds[s]])
    answers = write_answers(
        tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    )
    [j] = judge(tmp_path, answers, backend, samples=4)
    assert len({c["seed"] for c in backend.calls}) == 4
    assert all(c["params"] == {"temperature": 0.7} for c in backend.calls)
    assert j.status == "ok"
    assert len(j.draws) == 3  # the unparsed draw (and its failed repair) is not a draw
    assert len(j.raw) == 5  # ... but every raw reply is kept
    assert j.tcc == 3 and j.its == 3  # low median of [2, 3, 3] and [4, 2, 3]
    assert j.spread is not None and j.spread["icc"] == 0.0
    assert j.spread["its"] == pytest.approx((2 / 3) ** 0.5)
    assert "1 of 4 draws gave no scores" in (j.error or "")


def test_samples_must_be_positive_and_temperature_nonzero(tmp_path: Path) -> None:
    answers = write_answers(tmp_path, [{"id": "a", "question": "q", "answer": "t", "image": None}])
    with pytest.raises(ConfigError):
        judge(tmp_path, answers, ScriptedJudge(), samples=0)
    with pytest.raises(ConfigError, match="temperature above 0"):
        judge(tmp_path, answers, ScriptedJudge(), samples=3, temperature=0.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ('{"id": "a", "question": "q"}\nnot json\n', ":2: not valid JSON"),
        ('{"question": "q"}\n', ":1: missing or empty `id`"),
        (
            '{"id": "a", "question": "q"}\n{"id": "a", "question": "r"}\n',
            "turn 0 already appeared on line 1",
        ),
        ('{"id": "a", "question": "q", "image": 3}\n', "`image` must be a string"),
    ],
)
def test_bad_answers_jsonl_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        judge(tmp_path, path, ScriptedJudge())


def test_dataset_input_keeps_topics_for_breakdowns(tmp_path: Path) -> None:
    from intersyn.data.store import RunStore
    from intersyn.judge.summary import summarize
    from intersyn.schema import Sample, TopicPath, Turn

    store = RunStore(tmp_path / "run")
    for i, domain in enumerate(["animals", "animals", "food"]):
        sid = f"s{i}"
        ref = store.put_image(sid, "t0", png())
        turns = [Turn(index=0, question="q", answer="a", caption="c", image=ref)]
        if i == 0:
            turns.append(Turn(index=1, question="q2", answer="a2", caption="c2", image=None))
        store.commit(
            Sample(id=sid, topic=TopicPath(domain=domain, category="c", topic="t"), turns=turns)
        )
    store.close()
    backend = ScriptedJudge()
    set_dir = run_judge(
        tmp_path / "run", RunConfig(), tmp_path / "out", models=Models(chat={"judge": backend})
    )
    js = load_set(set_dir)
    assert sorted((j.sample_id, j.turn) for j in js.judgements) == [
        ("s0", 0),
        ("s0", 1),
        ("s1", 0),
        ("s2", 0),
    ]
    s = summarize(js.judgements, js.topics)
    assert s["by_domain"]["animals"]["n"] == 3 and s["by_domain"]["food"]["n"] == 1
    assert s["by_domain"]["food"]["tcc"] == 4.0
    no_image = next(j for j in js.judgements if j.turn == 1)
    assert no_image.icc == 0 and "has no image" in no_image.forced[0]


def test_an_exported_answers_folder_is_judged(tmp_path: Path) -> None:
    rows = [{"id": "a", "question": "q", "answer": "t", "image": "ok.png"}]
    write_answers(tmp_path / "export", rows)
    set_dir = run_judge(
        tmp_path / "export",
        RunConfig(),
        tmp_path / "out",
        models=Models(chat={"judge": ScriptedJudge()}),
    )
    [j] = load_judgements(set_dir)
    assert j.sample_id == "a" and j.icc == 3


def test_budget_stops_the_run_cleanly_and_a_rerun_finishes(tmp_path: Path) -> None:
    from intersyn.errors import BudgetExceeded

    rows = [{"id": f"s{i}", "question": "q", "answer": "t", "image": "ok.png"} for i in range(10)]
    answers = write_answers(tmp_path, rows)
    calls = [0]

    def pay(m: list[ChatMessage], p: Any, s: Any) -> str:
        calls[0] += 1
        if calls[0] > 3:
            raise BudgetExceeded("budget_usd 1.00 reached")
        return GOOD

    with pytest.raises(BudgetExceeded):
        judge(tmp_path, answers, ScriptedJudge(pay))
    parts = list((tmp_path / "out").rglob("judgements-*.jsonl"))
    kept = [json.loads(x) for p in parts for x in p.read_text().splitlines()]
    assert len(kept) == 3 and all(r["status"] == "ok" for r in kept)  # no error records
    js = judge(tmp_path, answers, ScriptedJudge())
    assert sorted(j.sample_id for j in js) == sorted(r["id"] for r in rows)


def test_a_dead_endpoint_stops_early_instead_of_recording_every_turn(tmp_path: Path) -> None:
    from intersyn.errors import ModelError

    rows = [{"id": f"s{i:03d}", "question": "q", "answer": "t", "image": None} for i in range(100)]
    answers = write_answers(tmp_path, rows)
    dead = ScriptedJudge(fail=lambda m: True)
    with pytest.raises(ModelError, match="judge calls all failed"):
        run_judge(
            answers,
            RunConfig(max_in_flight=2),
            tmp_path / "out",
            models=Models(chat={"judge": dead}),
        )
    assert 16 <= len(dead.calls) < 40


def test_answers_read_by_the_data_layer_with_image_dir_and_history(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_bytes(png("blue"))
    rows = [
        {"id": "d", "turn": 1, "question": "and then?", "answer": "t2", "image": None},
        {"id": "d", "turn": 0, "question": "first?", "answer": "t1", "image": "x.png"},
    ]
    answers = write_answers(tmp_path / "jsonl", rows)
    backend = ScriptedJudge()
    js = judge(tmp_path, answers, backend, image_dir=tmp_path / "imgs")
    assert [(j.sample_id, j.turn, j.icc) for j in js] == [("d", 0, 3), ("d", 1, 0)]
    first = next(c for c in backend.calls if "and then?" not in user_text(c))
    assert first["messages"][1].images == [png("blue")]  # found under --image-dir
    second = next(c for c in backend.calls if "and then?" in user_text(c))
    assert "first?" in user_text(second) and "an image" in user_text(second)  # history


def test_a_turn_gap_in_answers_stops_with_the_line(tmp_path: Path) -> None:
    rows = [{"id": "g", "turn": 1, "question": "q", "answer": "t", "image": None}]
    with pytest.raises(InputError, match=r"answers\.jsonl:1 \(sample g\): turns \[1\]"):
        judge(tmp_path, write_answers(tmp_path, rows), ScriptedJudge())


def test_a_bad_record_further_on_keeps_the_turns_already_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An input error met while reading (the input is read lazily) stops the run, but every
    turn already sent to the judge is finished and written first, so a rerun resumes."""
    from intersyn.judge import runner

    rows = [{"id": f"s{i}", "question": "q", "answer": "t", "image": "ok.png"} for i in range(6)]
    answers = write_answers(tmp_path, rows)
    real = runner.iter_items

    def then_bad(path: Any, **kw: Any) -> Any:
        yield from real(path, **kw)
        raise InputError(f"{path}:7: not valid JSON")

    monkeypatch.setattr(runner, "iter_items", then_bad)
    backend = ScriptedJudge()
    with pytest.raises(InputError, match=":7: not valid JSON"):
        judge(tmp_path, answers, backend)
    monkeypatch.setattr(runner, "iter_items", real)
    kept = load_judgements(tmp_path / "out")
    assert sorted(j.sample_id for j in kept) == [f"s{i}" for i in range(6)]
    again = ScriptedJudge()
    judge(tmp_path, answers, again)
    assert again.calls == []  # nothing left to judge: nothing paid for twice
