"""The parse-safe contract: the messy-reply corpus, and properties no reply may break."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intersyn.judge.parse import SCORE_SCHEMA, normalize_label, parse_reply
from intersyn.schema import DIMENSIONS

CORPUS = Path(__file__).parent / "data" / "judge_replies" / "corpus.jsonl"


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text("utf-8").splitlines() if line.strip()]


def test_corpus_is_large_and_mixed() -> None:
    rows = _corpus()
    well = [r for r in rows if r["expected"] is not None]
    assert len(rows) >= 200
    assert len(well) >= 100 and len(rows) - len(well) >= 100
    assert len({r["id"] for r in rows}) == len(rows)


@pytest.mark.parametrize("row", _corpus(), ids=lambda r: r["id"])
def test_corpus_reply_parses_to_expected(row: dict) -> None:
    result = parse_reply(row["reply"], finish_reason=row.get("finish_reason"))
    assert result.scores == row["expected"], result.error
    if row["expected"] is None:
        assert result.error  # an unparsed reply always says why


def test_unparsed_never_holds_numbers() -> None:
    r = parse_reply("TCC: 4\nICC: 3\nIQ: 5")
    assert r.scores is None and not r.ok
    assert r.error == "no labelled score for its"


def test_required_allows_forced_dimensions_to_be_absent() -> None:
    r = parse_reply("TCC: 4", required=["tcc"])
    assert r.scores == {"tcc": 4}
    # ... but a value given for them must still be valid.
    assert parse_reply("TCC: 4\nICC: 9", required=["tcc"]).scores is None


def test_finish_reason_length_is_truncation() -> None:
    text = "TCC: 4\nICC: 3\nIQ: 5\nITS: 4"
    assert parse_reply(text, finish_reason="stop").ok
    r = parse_reply(text, finish_reason="length")
    assert r.scores is None and "cut off" in (r.error or "")


@pytest.mark.parametrize(
    ("label", "dim"),
    [
        ("TCC", "tcc"),
        ("Text Content Completeness", "tcc"),
        ("Text Response Quality", "tcc"),
        ("image_response_quality", "icc"),
        ("Image Aesthetic Quality", "iq"),
        ("Image–Text Synergy (ITS)", "its"),
        ("Text-Image Synergy", "its"),
        ("Overall", None),
        ("ICC (TCC)", None),
    ],
)
def test_normalize_label_both_vocabularies(label: str, dim: str | None) -> None:
    assert normalize_label(label) == dim


def test_schema_requires_all_four_integers() -> None:
    assert SCORE_SCHEMA["required"] == list(DIMENSIONS)
    for d in DIMENSIONS:
        assert SCORE_SCHEMA["properties"][d] == {"type": "integer", "minimum": 0, "maximum": 5}


_scores = st.fixed_dictionaries({d: st.integers(0, 5) for d in DIMENSIONS})
_styles = st.sampled_from(
    ["{k}: {v}", "**{k}**: {v}/5", "- {k} = {v}", "{k} - {v} (reason)", "| {k} | {v} |"]
)


@settings(max_examples=150, deadline=None)
@given(scores=_scores, style=_styles, order=st.permutations(list(DIMENSIONS)))
def test_any_labelled_layout_parses_exactly(scores: dict, style: str, order: list[str]) -> None:
    text = "\n".join(style.format(k=d.upper(), v=scores[d]) for d in order)
    assert parse_reply(text).scores == scores


@settings(max_examples=150, deadline=None)
@given(
    scores=_scores,
    bad_dim=st.sampled_from(DIMENSIONS),
    bad=st.sampled_from(["6", "-1", "2.5", "10/10", "2-3", "N/A"]),
)
def test_one_bad_value_makes_the_reply_unparsed(scores: dict, bad_dim: str, bad: str) -> None:
    text = "\n".join(f"{d.upper()}: {bad if d == bad_dim else scores[d]}" for d in DIMENSIONS)
    assert parse_reply(text).scores is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_random_text_never_yields_scores_without_all_labels(text: str) -> None:
    r = parse_reply(text)
    if r.scores is not None:  # only possible when every label is really there with a value
        lowered = text.lower()
        assert all(d in lowered for d in ("tc", "ic", "iq", "it"))


PUBLIC_LINE = (
    "[Text Response Quality: 4; Image Response Quality: 3; Image Aesthetic Quality: 5; "
    "Text-Image Synergy: 2]"
)
PAPER_LINE = (
    "[Text Content Completeness: 4; Image Content Completeness: 3; Image Quality: 5; "
    "Image-Text Synergy: 2]"
)


@pytest.mark.parametrize("line", [PUBLIC_LINE, PAPER_LINE, PUBLIC_LINE + ".", "- " + PAPER_LINE])
def test_public_prompt_bracketed_line_parses_in_both_vocabularies(line: str) -> None:
    assert parse_reply(line).scores == {"tcc": 4, "icc": 3, "iq": 5, "its": 2}


@pytest.mark.parametrize(
    "reply",
    [
        PUBLIC_LINE[:-1],  # unclosed: never read
        PUBLIC_LINE.replace("; Text-Image Synergy: 2", ""),  # three labels
        PUBLIC_LINE.replace("Quality: 3", "Quality: 7"),
        PUBLIC_LINE.replace("Quality: 3", "Quality: null"),
        PUBLIC_LINE + "\n" + PAPER_LINE.replace("Synergy: 2", "Synergy: 3"),
        "[4; 3; 5; 2]",
    ],
)
def test_ill_formed_bracketed_lines_are_unparsed(reply: str) -> None:
    r = parse_reply(reply)
    assert r.scores is None and r.error


@pytest.mark.parametrize(
    "reply",
    [
        '{"tcc": 4, "icc": 3, "iq": 5, "its": 2, "tcc": 1}',
        '{"tcc": 4, "icc": 3, "iq": 5, "its": 2, "tcc": 4}',
        '{"tcc": 4, "icc": 3, "iq": 5, "its": 2, "Text Content Completeness": 4}',
        '{"scores": {"tcc": 4, "icc": 3, "iq": 5, "its": 2, "its": 5}}',
    ],
)
def test_a_json_object_naming_a_dimension_twice_is_unparsed(reply: str) -> None:
    r = parse_reply(reply)
    assert r.scores is None and "twice" in (r.error or "")


def test_other_repeated_json_keys_do_not_matter() -> None:
    r = parse_reply('{"tcc": 4, "icc": 3, "iq": 5, "its": 2, "note": "a", "note": "b"}')
    assert r.scores == {"tcc": 4, "icc": 3, "iq": 5, "its": 2}
