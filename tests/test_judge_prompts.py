"""Judge prompts: Jinja files that render exactly what the former `string.Template` files did,
a user's own prompt file (`--prompt-file`), and clear errors for broken ones."""

from __future__ import annotations

from pathlib import Path
from string import Template

import pytest

from intersyn.errors import ConfigError
from intersyn.judge.items import HistoryTurn, ImageLoad, JudgeItem
from intersyn.judge.parse import SCORE_SCHEMA
from intersyn.judge.prompts import build_messages, image_note, load_prompts, repair_messages
from intersyn.judge.rubric import load_rubric

BEFORE = Path(__file__).parent / "fixtures" / "judge_prompts_before"


def _before(name: str) -> Template:
    return Template((BEFORE / f"judge_{name}.txt").read_text(encoding="utf-8"))


def _old_messages(item: JudgeItem, image: ImageLoad, *, vision: bool) -> tuple[str, str]:
    """The system and user text as the former `string.Template` prompts rendered them."""
    rubric = load_rubric()
    system = _before("system").safe_substitute(
        rubric=rubric.render(),
        rules="\n".join(f"- {r}" for r in rubric.rules),
        output_format=_before("format_json").safe_substitute(),
    )
    history = "".join(
        _before("history").safe_substitute(
            number=i + 1, question=h.question, answer=h.answer or "(none)", image_note=h.image_note
        )
        for i, h in enumerate(item.history)
    )
    user = _before("turn").safe_substitute(
        history=history,
        question=item.question,
        answer=item.answer if item.answer.strip() else "(no answer text)",
        image_note=image_note(item, image, vision),
    )
    return system, user


def _item(answer: str = "Rayleigh scattering {braces} $dollars.", **kw) -> JudgeItem:  # type: ignore[no-untyped-def]
    return JudgeItem(
        "s1",
        kw.pop("turn", 0),
        "Why is the sky blue? Draw it.",
        answer,
        kw.pop("caption", None),
        lambda: ImageLoad(b"png"),
        **kw,
    )


CASES = {
    "vision, image": (_item(), ImageLoad(b"png"), True),
    "caption proxy": (_item(caption="a blue sky {x}"), ImageLoad(b"png"), False),
    "no image": (_item(), ImageLoad(None, "image 'a.png' is missing"), True),
    "no text": (_item(answer="  "), ImageLoad(b"png"), True),
    "history": (
        _item(
            turn=2,
            history=[
                HistoryTurn("First {q}?", "First $answer", "an image"),
                HistoryTurn("Second?", "", "none"),
            ],
        ),
        ImageLoad(b"png"),
        True,
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_jinja_prompts_render_what_the_former_templates_rendered(case: str) -> None:
    item, image, vision = CASES[case]
    msgs = build_messages(item, image, load_rubric(), load_prompts(), vision=vision)
    system, user = _old_messages(item, image, vision=vision)
    assert [m.role for m in msgs] == ["system", "user"]
    assert msgs[0].content == system
    assert msgs[1].content == user
    fix = repair_messages(msgs, "TCC: 4", "no labelled score for its", load_prompts())
    assert fix[-1].content == _before("repair").safe_substitute(error="no labelled score for its")


def test_shipped_prompts_send_the_score_schema() -> None:
    assert load_prompts().schema == SCORE_SCHEMA and load_prompts().label == ""


def test_own_prompt_file_is_one_user_message_with_the_image_and_no_schema(tmp_path: Path) -> None:
    own = tmp_path / "public.j2"
    own.write_text(
        "Rate the answer.\n{% for h in history %}Earlier: {{ h.question }}\n{% endfor %}"
        "Question: {{ question }}\nAnswer: {{ answer if has_text else 'null' }}\n"
        "Image: {{ 'attached' if has_image else 'null' }}\n"
        "{% for d in dimensions %}{{ d.name }}; {% endfor %}\n"
        "Answer as [Text Response Quality: x; Image Response Quality: x; "
        "Image Aesthetic Quality: x; Text-Image Synergy: x]\n",
        encoding="utf-8",
    )
    prompts = load_prompts(prompt_file=own)
    assert prompts.schema is None and prompts.label.startswith("public.j2@")
    item = _item(answer="", history=[HistoryTurn("Before?", "yes", "none")])
    msgs = build_messages(item, ImageLoad(b"png"), load_rubric(), prompts, vision=True)
    assert len(msgs) == 1 and msgs[0].role == "user" and msgs[0].images == [b"png"]
    text = msgs[0].content
    assert "Earlier: Before?" in text and "Answer: null" in text and "Image: attached" in text
    assert "Text Content Completeness; Image Content Completeness; Image Quality;" in text
    fix = repair_messages(msgs, "4 3 5 2", "no labelled score for tcc", prompts)
    assert "format" in fix[-1].content and "{" not in fix[-1].content


def test_own_prompt_changes_the_set_label(tmp_path: Path) -> None:
    a, b = tmp_path / "a.j2", tmp_path / "b.j2"
    a.write_text("Q: {{ question }}", encoding="utf-8")
    b.write_text("Question: {{ question }}", encoding="utf-8")
    assert load_prompts(prompt_file=a).label != load_prompts(prompt_file=b).label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Q: {{ question }\n", r"own\.j2:1: prompt template error"),
        ("Q: {{ questoin }}\n", r"own\.j2: 'questoin' is undefined; the variables are"),
    ],
)
def test_broken_own_prompt_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    own = tmp_path / "own.j2"
    own.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        prompts = load_prompts(prompt_file=own)
        build_messages(_item(), ImageLoad(b"png"), load_rubric(), prompts, vision=True)


def test_missing_own_prompt_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="prompt file not found"):
        load_prompts(prompt_file=tmp_path / "nope.j2")


def test_prompts_dir_overrides_one_file_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "judge_format_json.j2").write_text("Answer as TCC: n, ICC: n, IQ: n, ITS: n\n")
    msgs = build_messages(
        _item(), ImageLoad(b"png"), load_rubric(), load_prompts(tmp_path), vision=True
    )
    assert msgs[0].content.endswith("Answer as TCC: n, ICC: n, IQ: n, ITS: n\n\n")
    assert msgs[0].content.startswith("You are SynJudge")
