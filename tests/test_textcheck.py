"""The shared text checks: raw or cut model replies stored as field text, refusals."""

import pytest

from intersyn.textcheck import is_refusal, raw_reply_problem


@pytest.mark.parametrize(
    "text",
    [
        '{"question": "question: full text pict',  # cut by the token limit
        '{"question": "What do owls eat?"}',  # whole, but still a reply, not a question
        '{"caption": "an owl", "answer": "Owls eat mice',
        '["a", "b"',
        "  {'answer': 'Owls hunt at night.'}",
        'Here it is: "answer": "Owls hunt at night and',
        '```json\n{"answer": "x"}\n```',
        '{\n  "ok": true,\n  "suggestions": []\n}',
    ],
)
def test_raw_or_cut_replies_are_flagged(text: str) -> None:
    reason = raw_reply_problem(text)
    assert reason is not None and "looks like" in reason


@pytest.mark.parametrize(
    "text",
    [
        "Owls hunt at night: their eyes gather light, and their ears find prey.",
        "The picture shows {a set of} nested boxes.",
        "Ratio 3:1 of water to rice; see the picture for the pot.",
        "A caption: an owl on a branch at dusk",
        "",
        '"Quoted speech," she said: "the owl flew."',
    ],
)
def test_prose_is_not_flagged(text: str) -> None:
    assert raw_reply_problem(text) is None


def test_cut_and_whole_json_are_told_apart() -> None:
    assert "cut or malformed" in (raw_reply_problem('{"question": "full text pict') or "")
    assert "raw JSON" in (raw_reply_problem('{"question": "What is it?"}') or "")


def test_refusals() -> None:
    assert is_refusal("I can't draw images, but here is a description.")
    assert not is_refusal("Owls cannot see colours well; the picture shows one at dusk.")
