"""The generator benchmark: config errors, questions, answering, judging, resume, leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from intersyn.data.store import RunStore
from intersyn.errors import ConfigError, InputError
from intersyn.report.bench import (
    CompositeGenerator,
    QuestionSource,
    load_bench_config,
    load_questions,
    run_bench,
)
from intersyn.testing import Faults, ScriptedServer
from tests.report_fixtures import make_run, png


def _questions(path: Path, n: int = 6) -> Path:
    qs = [
        {
            "id": f"q{i:03d}",
            "domain": ["Animals", "Food"][i % 2],
            "question": f"Explain topic {i} and draw it.",
        }
        for i in range(n)
    ]
    path.write_text(yaml.safe_dump({"version": 1, "questions": qs}), encoding="utf-8")
    return path


def _config(tmp_path: Path, base_url: str, **extra: object) -> Path:
    answers = tmp_path / "answers.jsonl"
    (tmp_path / "imgs").mkdir(exist_ok=True)
    (tmp_path / "imgs" / "q000.png").write_bytes(png((10, 200, 10)))
    rows = [
        {
            "id": "q000",
            "question": "Explain topic 0 and draw it.",
            "answer": "Zero.",
            "image": "q000.png",
        },
        {
            "id": "q001",
            "question": "Explain topic 1 and draw it.",
            "answer": "One.",
            "image": "../escape.png",
        },
        {"id": "q002", "question": "Explain topic 2 and draw it.", "answer": "Two."},
    ]
    answers.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    cfg = {
        "questions": {"source": "file", "path": "questions.yaml"},
        "judge": {
            "backend": "openai",
            "model": "judge-vlm",
            "base_url": base_url,
            "limits": {"max_retries": 0},
        },
        "generators": [
            {
                "name": "llm+painter",
                "type": "composite",
                "text": {"backend": "openai", "model": "text-llm", "base_url": base_url},
                "painter": {"backend": "openai-images", "model": "painter-x", "base_url": base_url},
                "image_size": [32, 32],
            },
            {"name": "file", "type": "answers", "path": "answers.jsonl", "image_dir": "imgs"},
        ],
        **extra,
    }
    _questions(tmp_path / "questions.yaml")
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_bad_config_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "judge": {"backend": "openai"},
                "generators": [
                    {"name": "x", "type": "composite"},
                    {"name": "y", "type": "answers"},
                ],
            }
        )
    )
    with pytest.raises(ConfigError) as e:
        load_bench_config(path)
    msg = str(e.value)
    assert str(path) in msg
    assert "generators.0.composite.text" in msg
    assert "generators.1.answers.path" in msg


def test_duplicate_generator_names_and_literal_keys_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    gen = {"name": "x", "type": "answers", "path": "a.jsonl"}
    path.write_text(
        yaml.safe_dump(
            {"judge": {"backend": "openai", "api_key": "sk-1"}, "generators": [gen, gen]}
        )
    )
    with pytest.raises(ConfigError) as e:
        load_bench_config(path)
    assert "repeated: x" in str(e.value)
    assert "api_key_env" in str(e.value)
    assert "sk-1" not in str(e.value)


def test_questions_from_file_dataset_and_limit(tmp_path: Path) -> None:
    qfile = _questions(tmp_path / "q.yaml", n=20)
    all_q = load_questions(QuestionSource(source="file", path=str(qfile)))
    assert [q.id for q in all_q][:3] == ["q000", "q001", "q002"]
    some = load_questions(QuestionSource(source="file", path=str(qfile), limit=5), seed=1)
    assert len(some) == 5 and set(q.id for q in some) <= {q.id for q in all_q}
    assert some == load_questions(QuestionSource(source="file", path=str(qfile), limit=5), seed=1)
    food = load_questions(QuestionSource(source="file", path=str(qfile), domains=["Food"]))
    assert {q.domain for q in food} == {"Food"} and len(food) == 10
    run = make_run(tmp_path / "run", n=4)
    from_ds = load_questions(QuestionSource(source="dataset", path=str(run)))
    assert [q.id for q in from_ds] == ["s0000", "s0001", "s0002", "s0003"]
    assert from_ds[0].question.startswith("Question 0")


def test_question_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "a", "question": "x"}\n{"id": "b"}\n')
    with pytest.raises(InputError, match=r"q.jsonl:2: a question needs"):
        load_questions(QuestionSource(source="file", path=str(bad)))
    dup = tmp_path / "d.jsonl"
    dup.write_text('{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}\n')
    with pytest.raises(InputError, match="appears twice"):
        load_questions(QuestionSource(source="file", path=str(dup)))


def test_bench_end_to_end_resumes_and_ranks(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        out = tmp_path / "out"
        page = run_bench(cfg, out)
        first_requests = len(srv.requests)
        # A rerun answers and judges nothing again.
        run_bench(cfg, out)
        assert len(srv.requests) == first_requests

    assert page.name == "leaderboard.html"
    composite = RunStore(out / "generators" / "llm+painter" / "answers", fsync=False)
    samples = {s.id: s for s in composite.iter_samples()}
    assert sorted(samples) == [f"q{i:03d}" for i in range(6)]
    turn = samples["q003"].turns[0]
    assert turn.question == "Explain topic 3 and draw it."
    assert turn.answer and turn.caption and turn.image is not None
    assert (composite.root / turn.image.path).read_bytes().startswith(b"\x89PNG")
    assert samples["q003"].meta["text_model"] == "text-llm"

    board = json.loads((out / "leaderboard" / "leaderboard.json").read_text())
    by_name = {e["name"]: e for e in board["entries"]}
    assert set(by_name) == {"llm+painter", "file"}
    assert by_name["llm+painter"]["n"] + by_name["llm+painter"]["n_unparsed"] == 6
    # The answers file covers 3 of 6 questions: 3 counted as failed, not judged.
    assert by_name["file"]["n_failed"] == 3
    assert by_name["file"]["n"] + by_name["file"]["n_unparsed"] == 3
    file_store = RunStore(out / "generators" / "file" / "answers", fsync=False)
    by_id = {s.id: s for s in file_store.iter_samples()}
    assert by_id["q000"].turns[0].image is not None
    assert by_id["q001"].turns[0].image is None  # ../escape.png refused, judged as no image
    assert "escapes" in by_id["q001"].meta["image_error"]
    for name in (
        "leaderboard.md",
        "leaderboard.csv",
        "radar.png",
        "radar.svg",
        "bars.png",
        "bars.svg",
    ):
        assert (out / "leaderboard" / name).stat().st_size > 0
    assert (out / "reports" / "llm+painter" / "index.html").exists()
    html = page.read_text()
    assert "llm+painter" in html and "../reports/llm+painter/index.html" in html


def test_changed_question_set_is_refused(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        out = tmp_path / "out"
        run_bench(cfg, out, judge=False)
        _questions(tmp_path / "questions.yaml", n=7)
        with pytest.raises(ConfigError, match="another question set"):
            run_bench(load_bench_config(tmp_path / "bench.yaml"), out, judge=False)


def test_unparsable_answer_gets_a_second_seed_then_is_recorded(tmp_path: Path) -> None:
    def bad_for_topic_4(req: dict) -> str | None:
        return "not json" if "topic 4" in json.dumps(req.get("messages", [])) else None

    with ScriptedServer(responder=bad_for_topic_4) as srv:
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        cfg.generators = cfg.generators[:1]
        out = tmp_path / "out"
        run_bench(cfg, out, judge=False)
        asked = [r for r in srv.requests if "topic 4" in json.dumps(r.get("messages", []))]
    assert sorted(r["seed"] for r in asked) == [asked[0]["seed"], asked[0]["seed"] + 1]
    store = RunStore(out / "generators" / "llm+painter" / "answers", fsync=False)
    assert "q004" not in store.done_ids()
    assert "not the JSON" in store.failures()["q004"]["error"]
    assert len(store.done_ids()) == 5


def test_rerun_asks_again_instead_of_replaying_an_unparsable_cached_reply(
    tmp_path: Path,
) -> None:
    def bad_for_topic_4(req: dict) -> str | None:
        return "not json" if "topic 4" in json.dumps(req.get("messages", [])) else None

    with ScriptedServer(responder=bad_for_topic_4) as srv:
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        cfg.generators = cfg.generators[:1]
        out = tmp_path / "out"
        run_bench(cfg, out, judge=False)
    store_dir = out / "generators" / "llm+painter" / "answers"
    assert "q004" not in RunStore(store_dir, fsync=False).done_ids()
    with ScriptedServer() as srv:  # the model now answers topic 4 properly
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        cfg.generators = cfg.generators[:1]
        run_bench(cfg, out, judge=False)
        chats = [r for r in srv.requests if "messages" in r]
    # The first seed's unusable reply is replayed from the cache (no request); the second
    # seed is asked again rather than replayed, and this time the answer parses.
    assert len(chats) == 1 and "topic 4" in json.dumps(chats[0]["messages"])
    store = RunStore(store_dir, fsync=False)
    assert "q004" in store.done_ids() and len(store.done_ids()) == 6
    [q4] = [s for s in store.iter_samples() if s.id == "q004"]
    assert q4.turns[0].answer and q4.turns[0].image is not None


def test_failed_call_is_retried_on_rerun(tmp_path: Path) -> None:
    with ScriptedServer(faults=Faults(sequence=["500"])) as srv:
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        gen = cfg.generators[0]
        assert isinstance(gen, CompositeGenerator)
        gen.text.limits.max_retries = 0
        cfg.generators = [gen]
        out = tmp_path / "out"
        run_bench(cfg, out, judge=False)
    store = RunStore(out / "generators" / "llm+painter" / "answers", fsync=False)
    failed = set(store.failures())
    assert len(failed) == 1 and len(store.done_ids()) == 5
    with ScriptedServer() as srv:
        cfg = load_bench_config(_config(tmp_path, srv.base_url))
        cfg.generators = cfg.generators[:1]
        run_bench(cfg, out, judge=False)
        chats = [r for r in srv.requests if "messages" in r]
        assert len(chats) == 1  # only the failed question is asked again
    assert len(RunStore(store.root, fsync=False).done_ids()) == 6
    ids = [s.id for s in RunStore(store.root, fsync=False).iter_samples()]
    assert len(ids) == len(set(ids)) == 6


def test_engine_options_apply_to_a_bench_config_without_changing_its_fingerprint(
    tmp_path: Path,
) -> None:
    from intersyn.engine.ray_cli import engine_overrides
    from intersyn.models.gate import Models

    cfg = load_bench_config(_config(tmp_path, "http://127.0.0.1:9/v1", ray={"workers": 3}))
    assert (cfg.engine, cfg.ray.workers) == ("local", 3)
    on_ray = cfg.with_engine(engine_overrides(None, "auto", None))  # --address implies ray
    assert (on_ray.engine, on_ray.ray.address, on_ray.ray.workers) == ("ray", "auto", 3)
    assert on_ray.fingerprint() == cfg.fingerprint()  # where it runs is not what it makes
    assert cfg.with_engine({}).engine == "local"
    with pytest.raises(ConfigError, match="one judge gate per worker"):
        run_bench(on_ray, tmp_path / "out", judge_models=Models())


def test_dataset_generator_uses_the_datasets_answers(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=4)
    with ScriptedServer() as srv:
        cfg_path = tmp_path / "bench.yaml"
        cfg_path.write_text(
            yaml.safe_dump(
                {
                    "questions": {"source": "dataset", "path": "run"},
                    "judge": {"backend": "openai", "model": "j", "base_url": srv.base_url},
                    "generators": [{"name": "seir", "type": "dataset", "path": "run"}],
                }
            )
        )
        out = tmp_path / "out"
        run_bench(load_bench_config(cfg_path), out)
    store = RunStore(out / "generators" / "seir" / "answers", fsync=False)
    got = {s.id: s.turns[0].answer for s in store.iter_samples()}
    original = {s.id: s.turns[0].answer for s in RunStore(run, fsync=False).iter_samples()}
    assert got == original


def test_shipped_question_set_loads_and_samples_fairly() -> None:
    qs = load_questions(QuestionSource())
    assert len(qs) >= 300 and len({q.id for q in qs}) == len(qs)
    assert len({q.domain for q in qs}) == 8
    some = load_questions(QuestionSource(limit=40), seed=5)
    assert len(some) == 40 and {q.id for q in some} <= {q.id for q in qs}
    animals = load_questions(QuestionSource(domains=["Animals"]))
    assert animals and all(q.domain == "Animals" for q in animals)


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "bench" / "bench.yaml"


def test_example_bench_config_runs_as_shipped(tmp_path: Path) -> None:
    """examples/bench/bench.yaml validates and runs end to end with its servers swapped for
    the scripted one (and the GPU painter for the preview painter)."""
    head = EXAMPLE.read_text(encoding="utf-8").split("\nquestions:")[0]
    assert "intersyn bench --config examples/bench/bench.yaml --out bench-out" in head
    assert "vllm serve" in head and "intersyn leaderboard bench-out" in head
    cfg = load_bench_config(EXAMPLE)
    assert cfg.questions.source == "shipped" and cfg.questions.limit == 300
    assert [g.name for g in cfg.generators] == ["qwen+flux", "qwen-text-only"]
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["questions"]["limit"] = 8
    with ScriptedServer() as srv:
        data["judge"]["base_url"] = srv.base_url
        for gen in data["generators"]:
            gen["text"]["base_url"] = srv.base_url
        data["generators"][0]["painter"] = {"backend": "preview"}
        path = tmp_path / "bench.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        run_bench(load_bench_config(path), tmp_path / "out")
    board = json.loads((tmp_path / "out" / "leaderboard" / "leaderboard.json").read_text())
    by_name = {e["name"]: e for e in board["entries"]}
    assert {n: e["n"] + e["n_unparsed"] for n, e in by_name.items()} == {
        "qwen+flux": 8,
        "qwen-text-only": 8,
    }
    # No painter: the hard rule scores ICC = IQ = ITS = 0 for every answered turn.
    assert by_name["qwen-text-only"]["means"]["icc"] == 0.0


def test_a_config_problem_stops_the_generator_instead_of_failing_every_question(
    tmp_path: Path,
) -> None:
    with ScriptedServer() as srv:
        path = _config(tmp_path, srv.base_url, max_in_flight=1)
        data = yaml.safe_load(path.read_text())
        data["generators"][0]["painter"] = {"backend": "diffusers", "model": "no-such-folder"}
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError, match=r"generator llm\+painter: .*no-such-folder"):
            run_bench(load_bench_config(path), tmp_path / "out")
    failed = RunStore(tmp_path / "out" / "generators" / "llm+painter" / "answers").failures()
    assert len(failed) == 1  # the first question, asked again on a rerun; the rest untouched
