"""The rubric file: shipped v1, a user's own rubric in the prompt, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from intersyn.errors import ConfigError
from intersyn.judge.items import ImageLoad, JudgeItem
from intersyn.judge.prompts import build_messages, load_prompts
from intersyn.judge.rubric import default_rubric_path, load_rubric


def test_shipped_rubric_has_four_dimensions_six_levels_and_the_hard_rules() -> None:
    r = load_rubric()
    assert r.label == "synjudge@1"
    assert [d.name for d in r.dimensions.values()] == [
        "Text Content Completeness",
        "Image Content Completeness",
        "Image Quality",
        "Image-Text Synergy",
    ]
    assert all(sorted(d.levels) == list(range(6)) for d in r.dimensions.values())
    text = r.render()
    assert "### ITS - Image-Text Synergy" in text and "  4: Consistent and aligned" in text
    assert any("no image" in rule for rule in r.rules)


def test_user_rubric_reaches_the_prompt(tmp_path: Path) -> None:
    p = tmp_path / "mine.yaml"
    p.write_text(default_rubric_path().read_text().replace("There is no answer text.", "ZERO-TEXT"))
    item = JudgeItem("s", 0, "Why is the sky blue?", "Rayleigh.", None, lambda: ImageLoad(b"x"))
    msgs = build_messages(item, ImageLoad(b"png"), load_rubric(p), load_prompts(), vision=True)
    assert "ZERO-TEXT" in msgs[0].content and "Why is the sky blue?" in msgs[1].content
    assert msgs[1].images == [b"png"] and '"tcc": <0-5>' in msgs[0].content


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("  its:\n", "  synergy:\n"), "dimensions must be exactly"),
        (
            lambda t: t.replace("      5: Sharp, clean", "      6: Sharp, clean"),
            "dimensions.iq.levels",
        ),
        (lambda t: t.replace("version:", "versio:"), "lacks the field 'version'"),
        (lambda t: t + "\n  - [unclosed", "not valid YAML"),
    ],
)
def test_bad_rubric_names_file_and_field(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.yaml"
    p.write_text(edit(default_rubric_path().read_text()))
    with pytest.raises(ConfigError, match=message) as e:
        load_rubric(p)
    assert str(p) in str(e.value)
