"""Issue 11, item 4: a writer reply cut off by the token limit (``finish_reason: length``) or
malformed JSON is never stored as a question, answer or caption: it gets the repair request
or fails the sample with its reason; and `validate` flags text that is a raw or cut reply."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.store import RunStore
from intersyn.testing.server import Faults, ScriptedServer
from intersyn.textcheck import raw_reply_problem
from tests.data.helpers import make_sample
from tests.test_seir_e2e import _config


def _generate(tmp: Path, srv: ScriptedServer, n: int, turns: str) -> Path:
    cfg = _config(tmp, srv.base_url)
    run = tmp / "run"
    args = ["generate", "-c", str(cfg), "-o", str(run), "-n", str(n), "--turns", turns]
    result = CliRunner().invoke(cli, [*args, "--k", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    return run


def test_storm_of_cut_and_malformed_replies_stores_no_cut_text(tmp_path: Path) -> None:
    faults = Faults(rate_truncated=0.05, rate_bad_json=0.05, seed=3)
    with ScriptedServer(faults=faults) as srv:
        run = _generate(tmp_path, srv, 40, "1-3")
        assert srv.stats.faults["truncated"] > 10 and srv.stats.faults["bad_json"] > 10
    store = RunStore(run)
    turns = 0
    for sample in store.iter_samples():
        for turn in sample.turns:
            turns += 1
            for name in ("question", "answer", "caption"):
                text = getattr(turn, name)
                assert text and raw_reply_problem(text) is None, (sample.id, name, text)
    assert turns > 40
    for failure in store.failures().values():  # a sample that could not be repaired says why
        assert "could not be read, even after one repair request" in failure["error"]
    result = CliRunner().invoke(cli, ["validate", str(run)])
    assert result.exit_code == 0 and "0 errors" in result.output


def test_a_cut_reply_gets_the_repair_request(tmp_path: Path) -> None:
    # The first request (the question draft) is cut off; its text must not become the question.
    with ScriptedServer(faults=Faults(sequence=["truncated"])) as srv:
        run = _generate(tmp_path, srv, 1, "1")
        repair = srv.requests[1]["messages"][-1]["content"]
    assert "finish_reason=length" in repair and "It was cut off before its end" in repair
    [sample] = RunStore(run).iter_samples()
    assert raw_reply_problem(sample.turns[0].question) is None


def test_validate_flags_text_that_is_a_raw_or_cut_reply(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    for i, (field, text) in enumerate(
        [
            ("question", '{"question": "question: full text pict'),
            ("caption", '{"caption": "an owl at dusk"}'),
            ("answer", "Owls hunt at night."),  # fine
        ]
    ):
        sample = make_sample(store, i, turns=1, trace=False)
        setattr(sample.turns[0], field, text)
        store.commit(sample)
    store.close()
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "sample s00000: turn 0: the question looks like a cut or malformed JSON" in result.output
    assert "sample s00001: turn 0: the caption looks like raw JSON" in result.output
    assert "s00002" not in result.output and "2 errors" in result.output
