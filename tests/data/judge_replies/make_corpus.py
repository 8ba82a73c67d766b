"""Writes corpus.jsonl: messy judge replies, each with the parse it must get.

Every reply is written here by hand as a template and filled with several score vectors, so
the expected parse is known by construction: ``expected`` is the four scores for a
well-formed reply and ``null`` for an ill-formed one (it must come back ``unparsed``).

Run ``python tests/data/judge_replies/make_corpus.py`` after changing a template; the tests
read the committed corpus.jsonl.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

S = dict[str, int]
Template = Callable[[S], str]

FULL = {
    "tcc": "Text Content Completeness",
    "icc": "Image Content Completeness",
    "iq": "Image Quality",
    "its": "Image-Text Synergy",
}
PUBLIC = {
    "tcc": "Text Response Quality",
    "icc": "Image Response Quality",
    "iq": "Image Aesthetic Quality",
    "its": "Text-Image Synergy",
}
DIMS = ("tcc", "icc", "iq", "its")


def lines(s: S, fmt: str, names: dict[str, str] | None = None, order=DIMS) -> str:
    return "\n".join(fmt.format(k=(names or {}).get(d, d.upper()), v=s[d], d=d) for d in order)


WELL: dict[str, Template] = {
    "plain": lambda s: lines(s, "{k}: {v}"),
    "bold-full-abbrev": lambda s: "\n".join(f"**{FULL[d]} ({d.upper()}):** {s[d]}" for d in DIMS),
    "public-names": lambda s: lines(s, "{k}: {v}", PUBLIC),
    "public-names-bold-slash5": lambda s: (
        "Here is my evaluation.\n\n" + lines(s, "- **{k}**: {v}/5", PUBLIC)
    ),
    "json-raw": lambda s: json.dumps(s),
    "json-fenced-with-prose": lambda s: (
        "Let me look at the answer carefully. The text explains "
        "the topic in 3 paragraphs and the image shows 2 birds.\n\n```json\n"
        + json.dumps({**s, "reason": "mostly complete"}, indent=2)
        + "\n```\nI hope this helps!"
    ),
    "json-full-name-keys": lambda s: json.dumps({FULL[d]: s[d] for d in DIMS}),
    "json-public-keys-snake": lambda s: json.dumps(
        {PUBLIC[d].lower().replace(" ", "_").replace("-", "_"): s[d] for d in DIMS}
    ),
    "json-nested-scores": lambda s: json.dumps(
        {"scores": {d.upper(): s[d] for d in DIMS}, "comment": "fine; 10/10 effort"}
    ),
    "json-per-dim-objects": lambda s: json.dumps(
        {d.upper(): {"score": s[d], "reason": f"reason for {d}"} for d in DIMS}, indent=1
    ),
    "json-string-values": lambda s: json.dumps({d: str(s[d]) for d in DIMS}),
    "json-float-integers": lambda s: "{" + ", ".join(f'"{d}": {s[d]}.0' for d in DIMS) + "}",
    "order-reversed": lambda s: lines(s, "{k}: {v}", order=tuple(reversed(DIMS))),
    "order-mixed-full": lambda s: lines(s, "{k}: {v}", FULL, order=("iq", "tcc", "its", "icc")),
    "out-of-5": lambda s: lines(s, "{k}: {v} out of 5", FULL),
    "table-rows": lambda s: (
        "| Dimension | Score | Note |\n|---|---|---|\n"
        + "\n".join(f"| {FULL[d]} | {s[d]} | ok |" for d in DIMS)
    ),
    "table-transposed": lambda s: (
        "| TCC | ICC | IQ | ITS |\n|:---:|:---:|:---:|:---:|\n| "
        + " | ".join(str(s[d]) for d in DIMS)
        + " |"
    ),
    "headings-score-below": lambda s: "\n\n".join(
        f"### {FULL[d]}\nThe answer is judged here.\nScore: {s[d]}" for d in DIMS
    ).replace("The answer is judged here.\n", ""),
    "inline-commas": lambda s: "Scores: " + ", ".join(f"{d.upper()} {s[d]}" for d in DIMS),
    "inline-semicolons": lambda s: "; ".join(f"{d.upper()}: {s[d]}" for d in DIMS) + ".",
    "inline-spaces": lambda s: " ".join(f"{d.upper()}: {s[d]}" for d in DIMS),
    "yaml-lowercase": lambda s: "```yaml\n" + lines(s, "{d}: {v}") + "\n```",
    "numbered-dash-explained": lambda s: "\n".join(
        f"{i + 1}. {d.upper()} - {s[d]} (the {d} is judged on 2 aspects)"
        for i, d in enumerate(DIMS)
    ),
    "explanations-after": lambda s: (
        "Evaluation of the answer:\n"
        + "\n".join(f"{FULL[d]}: {s[d]} - it has 3 strong points and 1 weak one." for d in DIMS)
        + "\nOverall: 3.75"
    ),
    "repeated-identical": lambda s: (
        lines(s, "{k}: {v}") + "\n\nTo summarise:\n" + lines(s, "{k}: {v}")
    ),
    "json-and-identical-labels": lambda s: lines(s, "{k}: {v}", FULL) + "\n\n" + json.dumps(s),
    "final-scores-header": lambda s: (
        "Reasoning: the ICC is strong because the subject is clear; "
        "IQ suffers from blur.\n\nFinal scores:\n" + lines(s, "* {k} = {v}")
    ),
    "en-dash-names": lambda s: lines(
        s, "{k}: {v}", {**FULL, "its": "Image–Text Synergy", "tcc": "Text Content-Completeness"}
    ),
    "brackets": lambda s: lines(s, "{k}: [{v}]"),
    "prose-numbers-around": lambda s: (
        "The image shows 3 cats and 2 dogs; the text lists 5 "
        "facts.\n" + lines(s, "{k}: {v}") + "\nThe 2 dogs are a bit blurry."
    ),
    "fence-no-language": lambda s: "```\n" + json.dumps(s) + "\n```",
    "blockquote": lambda s: "My scores:\n" + lines(s, "> {k}: {v}"),
    "mentions-without-numbers": lambda s: (
        "The TCC is good and the ICC is fair; the ITS could "
        "be better.\n" + lines(s, "{k}: {v}", FULL)
    ),
    "label-score-word": lambda s: lines(s, "{k} score: {v}"),
    "bold-values": lambda s: lines(s, "{k}: **{v}**"),
    "headings-prose-then-score": lambda s: (
        "\n".join(
            f"## {FULL[d]}\nThe answer has 2 strengths and 1 weakness here.\nScore: {s[d]}/5\n"
            for d in DIMS
        )
        + "\n## Overall\nScore: 3.5"
    ),
    "bold-label-value-below": lambda s: "\n\n".join(f"**{PUBLIC[d]}**\n{s[d]}" for d in DIMS),
    "think-block-then-answer": lambda s: (
        "<think>\nLet me weigh this. TCC: maybe "
        f"{(s['tcc'] + 1) % 6}? ICC: {(s['icc'] + 2) % 6}.\n</think>\n" + lines(s, "{k}: {v}")
    ),
    "english-its-prose": lambda s: (
        "Its 3 colours are vivid and its composition is neat.\n" + lines(s, "{k}: {v}")
    ),
    "label-paren-value": lambda s: "\n".join(f"- {d.upper()} ({s[d]}/5): see notes" for d in DIMS),
}


def _alt(s: S, d: str) -> int:
    return (s[d] + 2) % 6


ILL: dict[str, Template] = {
    "unlabelled-list": lambda s: ", ".join(str(s[d]) for d in DIMS),
    "unlabelled-json-array": lambda s: json.dumps([s[d] for d in DIMS]),
    "prose-only": lambda s: (
        f"I would rate the text a {s['tcc']}, the image content a "
        f"{s['icc']}, the quality {s['iq']} and the synergy {s['its']}."
    ),
    "labels-mid-sentence": lambda s: (
        f"I give TCC a {s['tcc']} and ICC a {s['icc']}, while IQ "
        f"gets {s['iq']} and ITS gets {s['its']}."
    ),
    "missing-its": lambda s: lines(s, "{k}: {v}", order=DIMS[:3]),
    "missing-tcc-json": lambda s: json.dumps({d: s[d] for d in DIMS[1:]}),
    "out-of-range-6": lambda s: lines({**s, "iq": 6}, "{k}: {v}"),
    "negative": lambda s: lines({**s, "tcc": -1}, "{k}: {v}"),
    "json-out-of-range": lambda s: json.dumps({**s, "icc": 7}),
    "decimal": lambda s: lines(s, "{k}: {v}").replace(f"ITS: {s['its']}", "ITS: 3.5"),
    "json-decimal": lambda s: json.dumps({**s, "its": 2.5}),
    "scale-of-10": lambda s: lines(s, "{k}: {v}/5").replace(f"TCC: {s['tcc']}/5", "TCC: 8/10"),
    "range-dash": lambda s: lines(s, "{k}: {v}").replace(f"ICC: {s['icc']}", "ICC: 3-4"),
    "range-or": lambda s: lines(s, "{k}: {v}").replace(f"IQ: {s['iq']}", "IQ: 3 or 4"),
    "revision-arrow": lambda s: lines(s, "{k}: {v}").replace(
        f"TCC: {s['tcc']}", f"TCC: {s['tcc']} -> {_alt(s, 'tcc')}"
    ),
    "two-blocks-conflict": lambda s: (
        "Draft:\n"
        + lines(s, "{k}: {v}")
        + "\n\nOn reflection:\n"
        + lines({**s, "its": _alt(s, "its")}, "{k}: {v}")
    ),
    "json-vs-labels-conflict": lambda s: (
        lines(s, "{k}: {v}") + "\n" + json.dumps({**s, "icc": _alt(s, "icc")})
    ),
    "two-json-conflict": lambda s: json.dumps(s) + "\n" + json.dumps({**s, "tcc": _alt(s, "tcc")}),
    "nested-json-conflict": lambda s: json.dumps({**s, "scores": {**s, "iq": _alt(s, "iq")}}),
    "vocabularies-conflict": lambda s: (
        lines(s, "{k}: {v}") + "\n" + lines({**s, "tcc": _alt(s, "tcc")}, "{k}: {v}", PUBLIC)
    ),
    "final-line-conflict": lambda s: (
        lines(s, "{k}: {v}") + f"\nActually, the final TCC: {_alt(s, 'tcc')}."
    ),
    "truncated-json": lambda s: json.dumps(s)[:-6],
    "truncated-json-fenced": lambda s: (
        "```json\n{\n" + f'  "tcc": {s["tcc"]},\n  "icc": {s["icc"]},\n  "iq"'
    ),
    "truncated-lines": lambda s: lines(s, "{k}: {v}")[:-7],
    "empty": lambda s: "",
    "whitespace": lambda s: "   \n\n ",
    "refusal": lambda s: "I'm sorry, but I can't help with evaluating this content.",
    "na-value": lambda s: lines(s, "{k}: {v}").replace(f"IQ: {s['iq']}", "IQ: N/A"),
    "word-values": lambda s: "TCC: four\nICC: three\nIQ: five\nITS: four",
    "json-null": lambda s: json.dumps({**s, "iq": None}),
    "format-echo": lambda s: (
        'Reply format: {"tcc": <0-5>, "icc": <0-5>, "iq": <0-5>, "its": <0-5>}'
    ),
    "python-dict": lambda s: str(s),
    "json-bool": lambda s: json.dumps({**s, "tcc": True}),
    "table-decimal": lambda s: (
        "| Dimension | Score |\n|---|---|\n"
        + "\n".join(f"| {d.upper()} | {s[d] if d != 'icc' else '3.5'} |" for d in DIMS)
    ),
    "heading-number-prose-no-score": lambda s: "\n".join(
        f"### {d.upper()}\n{s[d]} aspects of the request are covered." for d in DIMS
    ),
    "heading-then-other-section-score": lambda s: (
        lines(s, "{k}: {v}", order=DIMS[:3])
        + f"\n### ITS\nThe picture and text agree.\n### Overall\nScore: {s['its']}"
    ),
    "unclosed-think": lambda s: "<think>\nThe text is fine so TCC: " + str(s["tcc"]),
    "placeholder-only": lambda s: "TCC: X\nICC: X\nIQ: X\nITS: X",
}

#: Replies that are truncated by the server (finish_reason "length") although they look whole.
LENGTH_CUT: dict[str, Template] = {
    "cut-after-scores": lambda s: lines(s, "{k}: {v}") + "\nExplanation: the text",
}


#: The public SynJudge prompt's one-line format, ``[Label: x; Label: x; Label: x; Label: x]``,
#: with either vocabulary (added for issue 11, item 7; a separate random stream, so the rows
#: above keep their scores).
def bracketed(s: S, names: dict[str, str] | None = None, order=DIMS, sep: str = "; ") -> str:
    names = names or PUBLIC
    return "[" + sep.join(f"{names[d]}: {s[d]}" for d in order) + "]"


BRACKETED_WELL: dict[str, Template] = {
    "bracketed-public": lambda s: bracketed(s),
    "bracketed-paper-names": lambda s: bracketed(s, FULL),
    "bracketed-abbreviations": lambda s: bracketed(s, {d: d.upper() for d in DIMS}),
    "bracketed-after-prose": lambda s: (
        "The text covers 3 of the 4 points asked for.\n" + bracketed(s)
    ),
    "bracketed-full-stop-spaces": lambda s: (
        "[ " + " ; ".join(f"{PUBLIC[d]} : {s[d]}" for d in DIMS) + " ]."
    ),
    "bracketed-commas": lambda s: bracketed(s, FULL, sep=", "),
    "bracketed-reordered": lambda s: bracketed(s, order=("iq", "its", "tcc", "icc")),
    "bracketed-consistency-label": lambda s: bracketed(
        s, {**PUBLIC, "its": "Text-Image Consistency"}
    ),
    "bracketed-repeated-identical": lambda s: bracketed(s) + "\n" + bracketed(s, FULL),
    "bracketed-list-item": lambda s: "- " + bracketed(s),
}

BRACKETED_ILL: dict[str, Template] = {
    "bracketed-three-labels": lambda s: bracketed(s, order=DIMS[:3]),
    "bracketed-unclosed": lambda s: bracketed(s)[:-1],
    "bracketed-out-of-range": lambda s: bracketed({**s, "icc": 6}),
    "bracketed-negative": lambda s: bracketed({**s, "iq": -1}),
    "bracketed-decimal": lambda s: bracketed(s).replace(
        f"Quality: {s['tcc']};", "Quality: 3.5;", 1
    ),
    "bracketed-placeholder-echo": lambda s: (
        "[Text Response Quality: <0-5>; Image Response Quality: <0-5>; "
        "Image Aesthetic Quality: <0-5>; Text-Image Synergy: <0-5>]"
    ),
    "bracketed-null-value": lambda s: bracketed(s).replace(
        f"Image Response Quality: {s['icc']}", "Image Response Quality: null"
    ),
    "bracketed-unlabelled": lambda s: "[" + "; ".join(str(s[d]) for d in DIMS) + "]",
    "bracketed-label-twice-conflict": lambda s: (
        bracketed(s)[:-1] + f"; Text Response Quality: {_alt(s, 'tcc')}]"
    ),
    "bracketed-two-lines-conflict": lambda s: (
        bracketed(s) + "\n" + bracketed({**s, "its": _alt(s, "its")}, FULL)
    ),
    "bracketed-range": lambda s: bracketed(s).replace(
        f"Text-Image Synergy: {s['its']}", "Text-Image Synergy: 3-4"
    ),
    "bracketed-scale-of-10": lambda s: bracketed(s).replace(
        f"Image Aesthetic Quality: {s['iq']}", "Image Aesthetic Quality: 8/10"
    ),
}

#: One JSON object naming a dimension twice: JSON keeps the last value silently, so the reply
#: is unparsed whatever the values (issue 11, item 6).
DUPLICATE_KEY_ILL: dict[str, Template] = {
    "json-key-twice-different": lambda s: json.dumps(s)[:-1] + f', "tcc": {_alt(s, "tcc")}}}',
    "json-key-twice-same": lambda s: json.dumps(s)[:-1] + f', "its": {s["its"]}}}',
    "json-alias-twice": lambda s: json.dumps(s)[:-1] + f', "Image Quality": {s["iq"]}}}',
    "json-nested-key-twice": lambda s: (
        '{"scores": ' + json.dumps(s)[:-1] + f', "icc": {_alt(s, "icc")}}}}}'
    ),
}


def vectors(n: int, rng: random.Random) -> list[S]:
    base = [dict.fromkeys(DIMS, 0), dict.fromkeys(DIMS, 5), {"tcc": 5, "icc": 0, "iq": 3, "its": 1}]
    while len(base) < n:
        base.append({d: rng.randint(0, 5) for d in DIMS})
    return base[:n]


def build() -> list[dict[str, object]]:
    rng = random.Random(5)
    out: list[dict[str, object]] = []
    for name, t in WELL.items():
        for i, s in enumerate(vectors(4, rng)):
            out.append({"id": f"well/{name}/{i}", "reply": t(s), "expected": s})
    for name, t in ILL.items():
        for i, s in enumerate(vectors(4, rng)[1:]):
            out.append({"id": f"ill/{name}/{i}", "reply": t(s), "expected": None})
    for name, t in LENGTH_CUT.items():
        for i, s in enumerate(vectors(3, rng)):
            out.append(
                {
                    "id": f"ill/{name}/{i}",
                    "reply": t(s),
                    "finish_reason": "length",
                    "expected": None,
                }
            )
    rng = random.Random(19)  # the bracketed and duplicate-key rows: their own stream
    for name, t in BRACKETED_WELL.items():
        for i, s in enumerate(vectors(4, rng)):
            out.append({"id": f"well/{name}/{i}", "reply": t(s), "expected": s})
    for name, t in {**BRACKETED_ILL, **DUPLICATE_KEY_ILL}.items():
        for i, s in enumerate(vectors(4, rng)[1:]):
            out.append({"id": f"ill/{name}/{i}", "reply": t(s), "expected": None})
    return out


if __name__ == "__main__":
    rows = build()
    path = Path(__file__).with_name("corpus.jsonl")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    well = sum(1 for r in rows if r["expected"] is not None)
    print(
        f"wrote {len(rows)} replies ({well} well-formed, {len(rows) - well} ill-formed) to {path}"
    )
