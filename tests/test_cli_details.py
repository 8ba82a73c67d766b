"""Issue 11, smaller items: `generate` writes usage.json (so `intersyn models usage RUN`
works), `validate --image-root`, `stats` says its image sizes are the top 10 and names the
file it was given."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.testing.server import ScriptedServer
from tests.data.helpers import png
from tests.test_seir_e2e import _config


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def test_generate_writes_usage_json_that_models_usage_reads(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        cfg = _config(tmp_path, srv.base_url)
        run = tmp_path / "run"
        code, out = _run("generate", "-c", cfg, "-o", run, "-n", "2", "--turns", "1", "--k", "1")
        assert code == 0, out
    usage = json.loads((run / "usage.json").read_text())
    assert usage["total"]["calls"] > 0 and "writer" in usage["roles"]
    code, out = _run("models", "usage", run)
    assert code == 0 and "writer" in out, out


def _answers_elsewhere(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.png").write_bytes(png(1))
    answers = tmp_path / "answers" / "answers.jsonl"
    answers.parent.mkdir()
    answers.write_text(json.dumps({"id": "a", "question": "q?", "answer": "t.", "image": "a.png"}))
    return answers, images


def test_validate_takes_an_image_root_like_import_and_judge(tmp_path: Path) -> None:
    answers, images = _answers_elsewhere(tmp_path)
    code, out = _run("validate", answers)
    assert code == 1 and "a.png" in out and "not found" in out
    code, out = _run("validate", answers, "--image-root", images)
    assert code == 0 and "OK: 1 samples" in out, out


def test_stats_names_the_file_and_says_top_10(tmp_path: Path) -> None:
    answers, _ = _answers_elsewhere(tmp_path)
    code, out = _run("stats", answers, "--json")
    stats = json.loads(out)
    assert code == 0 and stats["dataset"] == str(answers)
    assert stats["images"]["sizes_top"] == 10
    code, out = _run("stats", answers)
    assert code == 0 and "image sizes (top 10)" in out
    assert str(answers) in "".join(out.split())  # the title names the file (rich wraps it)
