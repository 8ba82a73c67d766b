"""Issue 11, items 8 and 9: one definition of a decodable image, a pixel limit, and hostile
images (truncated files, decompression bombs) named as problems by every reader — import,
export, validate, judge, view, stats — never a traceback, never a silent pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.config import RunConfig
from intersyn.data.images import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    ImageProblem,
    decode_image,
    image_header,
    thumbnail_jpeg,
)
from intersyn.errors import ConfigError
from intersyn.judge.runner import run_judge
from intersyn.judge.store import load_judgements
from intersyn.models.gate import Models
from intersyn.report.viewer import sample_page
from tests.data.helpers import big_png, make_run, png, truncated
from tests.test_judge_runner import ScriptedJudge

ROOT = Path(__file__).resolve().parent.parent
BOMB = (20000, 20000)  # 400 MP declared in a ~50 KB file
BIG = (12000, 12000)  # 144 MP


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a failure of this test, not an outcome
    return result.exit_code, result.output


def _answers(folder: Path, images: dict[str, bytes]) -> Path:
    """An answers JSONL with one single-turn answer per image (id = the file's stem)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, data in images.items():
        (folder / name).write_bytes(data)
        rows.append({"id": Path(name).stem, "question": "q?", "answer": "a.", "image": name})
    path = folder / "answers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_one_definition_names_what_is_wrong() -> None:
    good = png(1, (64, 48))
    assert decode_image(good).size == (64, 48) and decode_image(good).ext == "png"
    cases = {
        "not_an_image": b"hello, not an image",
        "corrupt": truncated(png(2, (64, 64))),
        "too_large": big_png(*BOMB),
    }
    for kind, data in cases.items():
        with pytest.raises(ImageProblem) as e:
            decode_image(data, "sample s1, turn 0")
        assert e.value.kind == kind and str(e.value).startswith("sample s1, turn 0: ")
    with pytest.raises(ImageProblem, match="400,000,000 pixels"):
        decode_image(cases["too_large"])
    # between the limit and twice it PIL would only warn: still refused, from the header
    with pytest.raises(ImageProblem, match="8000x8000 = 64,000,000 pixels"):
        image_header(big_png(8000, 8000))
    assert DEFAULT_MAX_PIXELS == 50_000_000


def test_the_pixel_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_PIXELS_ENV, "100")
    with pytest.raises(ImageProblem, match="12x9 = 108 pixels; the limit is 100 pixels"):
        decode_image(png(1))  # 12 x 9
    monkeypatch.setenv(MAX_PIXELS_ENV, "200")
    assert decode_image(png(1)).size == (12, 9)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ConfigError, match=MAX_PIXELS_ENV):
        decode_image(png(1))


def test_truncated_png_import_export_validate_agree(tmp_path: Path) -> None:
    run = tmp_path / "run"
    samples = make_run(run, 3)
    ref = samples[1].turns[0].image
    assert ref is not None
    (run / ref.path).write_bytes(truncated(png(9, (64, 64))))  # header whole, pixels cut
    code, out = _run("validate", run)
    assert code == 1 and "sample s00001: turn 0" in out and "cannot be decoded" in out
    code, out = _run("export", run, "--format", "hub", "--out", tmp_path / "hub")
    assert code != 0 and "s00001" in out and "cannot be decoded" in out
    assert not (tmp_path / "hub").exists()
    code, out = _run("export", run, "--format", "hub", "--out", tmp_path / "hub2", "--on-error",
                     "skip")  # fmt: skip
    assert code == 0 and "exported 2 samples" in out
    answers = _answers(tmp_path / "ans", {"ok.png": png(3), "cut.png": truncated(png(4, (64, 64)))})
    code, out = _run("validate", answers)
    assert code == 1 and "cut.png" in out and "cannot be decoded" in out
    code, out = _run("import", answers, "--out", tmp_path / "imported")
    assert code != 0 and "cut.png" in out and "cannot be decoded" in out
    assert not (tmp_path / "imported").exists()


def test_hostile_images_are_named_problems_in_every_reader(tmp_path: Path) -> None:
    images = {
        "ok.png": png(5),
        "bomb.png": big_png(*BOMB),
        "big.png": big_png(*BIG),
        "cut.png": truncated(png(6, (64, 64))),
    }
    answers = _answers(tmp_path / "ans", images)
    assert (tmp_path / "ans" / "bomb.png").stat().st_size < 500_000
    code, out = _run("validate", answers)
    assert code == 1 and out.count("too large") == 2 and "cannot be decoded" in out
    assert "4 samples" in out and "3 errors" in out
    code, out = _run("import", answers, "--out", tmp_path / "imp")
    assert code != 0 and "too large" in out
    code, out = _run("import", answers, "--out", tmp_path / "imp", "--on-error", "skip")
    assert code == 0 and "imported 1 samples" in out
    code, out = _run("stats", answers, "--json")
    stats = json.loads(out)
    assert code == 0 and stats["images"]["unreadable"] == 3 and stats["images"]["present"] == 4
    site = tmp_path / "site"
    code, out = _run("view", answers, "--out", site)
    assert code == 0, out
    page = (site / sample_page("bomb")).read_text()
    assert "too large" in page and "400,000,000 pixels" in page
    assert "cannot be decoded" in (site / sample_page("cut")).read_text()
    set_dir = run_judge(
        answers, RunConfig(), tmp_path / "judged", models=Models(chat={"judge": ScriptedJudge()})
    )
    judged = {j.sample_id: j for j in load_judgements(set_dir)}
    for sid, why in (("bomb", "too large"), ("big", "too large"), ("cut", "cannot be decoded")):
        assert judged[sid].icc == judged[sid].iq == judged[sid].its == 0, sid
        assert why in judged[sid].forced[0] and judged[sid].error is None, judged[sid].forced
    assert judged["ok"].forced == []


def test_view_of_a_144_megapixel_image_stays_small(tmp_path: Path) -> None:
    """Refused from its header: the viewer never decodes it (it took 1.2 GB before)."""
    answers = _answers(tmp_path / "ans", {"big.png": big_png(*BIG), "ok.png": png(1)})
    code = (
        "import resource, sys; from intersyn.cli import main\n"
        "try:\n    main(['view', sys.argv[1], '--out', sys.argv[2]])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(answers), str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    peak_mb = int(done.stdout.split("peak_kb")[-1]) / 1024
    assert peak_mb < 400, peak_mb  # 144 MP decoded would be ~150 MB more than this process
    assert "too large" in (tmp_path / "site" / sample_page("big")).read_text()


def test_jpeg_thumbnails_decode_at_reduced_scale() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (3000, 2000), (10, 120, 200)).save(buf, "JPEG")
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(buf.getvalue(), (192, 192))))
    assert thumb.format == "JPEG" and max(thumb.size) <= 192
