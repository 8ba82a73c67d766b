"""Reading replies: critiques (JSON and free text), answer/caption splitting, fields."""

from __future__ import annotations

import pytest

from intersyn.errors import ParseError
from intersyn.seir import parse
from intersyn.seir.checks import is_refusal, problems


@pytest.mark.parametrize(
    ("text", "ok", "suggestions"),
    [
        ('{"ok": true, "suggestions": []}', True, []),
        ('{"ok": false, "suggestions": ["shorter", "none"]}', False, ["shorter"]),
        ('{"ok": false, "suggestions": []}', True, []),  # nothing to change = approved
        ("None", True, []),
        ("Nothing to change.", True, []),
        (
            "- Make it shorter\n- Mention the season",
            False,
            ["Make it shorter", "Mention the season"],
        ),
        ('Sure! ```json\n{"ok": false, "suggestions": ["add a tree"]}\n```', False, ["add a tree"]),
        # cut off by max_tokens: the verdict and what was written so far, never an approval
        (
            '{"ok": false, "suggestions": ["add a tree", "make the sky da',
            False,
            ["add a tree", "make the sky da"],
        ),
        ('{"ok": false, "suggestions": ["add a tree"', False, ["add a tree"]),
        ('{"ok": true, "suggestions": [', True, []),
        ('{"ok": false, "sugg', False, [parse.CUT_CRITIQUE]),
    ],
)
def test_critique(text: str, ok: bool, suggestions: list[str]) -> None:
    c = parse.critique(text)
    assert (c.ok, c.suggestions) == (ok, suggestions)


def test_answer_caption_paths() -> None:
    assert parse.answer_caption('{"caption": "An owl", "answer": "Owls hunt."}') == (
        "Owls hunt.",
        "An owl",
    )
    assert parse.answer_caption("Answer: Owls hunt.\nCaption: An owl at dusk") == (
        "Owls hunt.",
        "An owl at dusk",
    )
    assert parse.answer_caption("Owls hunt at night.\n\n## Image caption: an owl") == (
        "Owls hunt at night.",
        "an owl",
    )
    # cut off by a token limit: no field is taken from a reply that did not parse whole
    cut = '{"caption": "An owl on a branch", "answer": "Owls are birds of prey that'
    bad_replies = ("just prose", '{"answer": "x", "caption": ""}', '{"answer": "Owls are', cut)
    for bad in (*bad_replies, 'Answer: {"answer": "Owls are\nCaption: an owl'):
        with pytest.raises(ParseError):
            parse.answer_caption(bad)


def test_field_text() -> None:
    assert parse.field_text('{"question": " Why? "}', "question") == "Why?"
    assert parse.field_text('Question: "Why do owls hoot?"', "question") == "Why do owls hoot?"
    with pytest.raises(ParseError):
        parse.field_text('{"other": 1}', "question")
    # a cut or malformed JSON reply is never stored as the question (issue 11, item 4)
    for cut in ('{"question": "question: full text pict', '```json\n{"question": "Why do', "{'q"):
        with pytest.raises(ParseError, match=r"cut or malformed|raw"):
            parse.field_text(cut, "question", ("q",))
    with pytest.raises(ParseError, match="raw"):  # a whole reply nested inside the field
        parse.field_text('{"question": "{\\"question\\": \\"Why?\\"}"}', "question")


def test_refusals_and_limits() -> None:
    assert is_refusal("I can't draw images, but here is a description.")
    assert is_refusal("As an AI language model, I cannot create pictures.")
    assert is_refusal("I'm sorry, but I can't help with that request.")
    assert not is_refusal("Can you draw an owl and explain how it hunts?")
    assert not is_refusal("Owls cannot see colours well; the picture shows one at dusk.")
    assert problems("", "question") == ["The question is empty: write the question."]
    assert problems("a " * 51, "question", 50) == [
        "The question has 51 words; shorten it to at most 50 words."
    ]
