"""The shipped content: topic hierarchy, question templates and benchmark questions.

The files are read with ``yaml.safe_load`` straight from the installed package (not through
``intersyn.seir.topics``), so these checks hold whatever the loaders do. See docs/content.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache
from importlib import resources
from typing import Any

import pytest
import yaml

FORMS = {
    "direct",
    "casual",
    "hypothetical",
    "examples",
    "comparison",
    "how-it-works",
    "history",
    "practical",
    "story",
    "child-friendly",
}
#: Words that ask for a picture of some kind.
IMAGE_WORDS = re.compile(
    r"\b(image|images|picture|pictures|pic|illustrat\w*|draw|drawing|drawn|sketch\w*|photo\w*|"
    r"diagram\w*|visual\w*|paint|painting|infographic|cartoon|schematic|portrait|poster)\b",
    re.IGNORECASE,
)
#: Words that ask for an explanation of some kind.
EXPLAIN_WORDS = re.compile(
    r"\b(explain\w*|explanations?|describ\w*|description|compar\w*|contrast|tell|what|what's|"
    r"how|why|give|summar\w*|introduc\w*|teach|write|narrat\w*|list|name|define|overview|gist|"
    r"basics|rundown|facts?|know|walk me through|understand|talking points|text)\b",
    re.IGNORECASE,
)
SLOT = "{topic}"


@cache
def load(name: str) -> Any:
    """One shipped resource file, parsed with yaml.safe_load."""
    text = (resources.files("intersyn.resources") / name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def norm(text: str) -> str:
    """Compare key: accents dropped, case-folded, punctuation and runs of space collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def categories() -> list[tuple[str, dict[str, Any]]]:
    return [(d["name"], c) for d in load("topics.yaml")["domains"] for c in d["categories"]]


def all_topics() -> list[tuple[str, str, str]]:
    return [(dom, c["name"], t) for dom, c in categories() for t in c["topics"]]


def templates() -> list[dict[str, Any]]:
    return list(load("templates.yaml")["templates"])


def questions() -> list[dict[str, Any]]:
    return list(load("bench_questions.yaml")["questions"])


def is_clean_string(value: object) -> bool:
    return isinstance(value, str) and value == value.strip() and value != "" and "\n" not in value


# -- topics.yaml ----------------------------------------------------------------------------


def test_topics_have_the_papers_shape() -> None:
    data = load("topics.yaml")
    assert data["version"] == 1
    assert set(data) == {"version", "domains"}
    assert len(data["domains"]) == 8
    assert len(categories()) == 65
    assert len(all_topics()) == 3500


def test_every_category_has_a_reasonable_number_of_topics() -> None:
    sizes = {c["name"]: len(c["topics"]) for _, c in categories()}
    assert all(40 <= n <= 70 for n in sizes.values()), sizes


def test_topic_and_name_fields_are_clean_strings() -> None:
    for dom in load("topics.yaml")["domains"]:
        assert set(dom) == {"name", "categories"}
        assert is_clean_string(dom["name"])
        for cat in dom["categories"]:
            assert set(cat) == {"name", "topics"}
            assert is_clean_string(cat["name"])
    bad = [t for _, _, t in all_topics() if not is_clean_string(t) or "{" in t or "?" in t]
    assert bad == []


def test_topics_are_unique_across_the_whole_file_after_normalisation() -> None:
    seen: dict[str, str] = {}
    dups = []
    for _, cat, topic in all_topics():
        key = norm(topic)
        assert key, f"topic {topic!r} is empty after normalisation"
        if key in seen:
            dups.append((topic, cat, seen[key]))
        seen[key] = cat
    assert dups == []


def test_domain_and_category_names_are_unique() -> None:
    domains = [d["name"] for d in load("topics.yaml")["domains"]]
    cats = [c["name"] for _, c in categories()]
    assert len({norm(d) for d in domains}) == len(domains) == 8
    assert len({norm(c) for c in cats}) == len(cats) == 65


def test_the_papers_kinds_of_topic_are_all_there() -> None:
    keys = {norm(t) for _, _, t in all_topics()}
    for example in [
        "snow leopard",
        "Angkor Wat",
        "sourdough bread",
        "aurora borealis",
        "stained glass window",
        "dragon boat race",
    ]:
        assert norm(example) in keys, example


def test_topics_are_short_noun_phrases() -> None:
    long = [t for _, _, t in all_topics() if len(t.split()) > 8 or len(t) > 60]
    assert long == []


# -- templates.yaml -------------------------------------------------------------------------


def test_there_are_enough_templates_with_well_formed_ids() -> None:
    data = load("templates.yaml")
    assert data["version"] == 1
    items = templates()
    assert len(items) >= 200
    ids = [t["id"] for t in items]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"t\d{3}", i) for i in ids)
    assert all(set(t) == {"id", "text", "form"} for t in items)


def test_each_template_has_exactly_one_topic_slot_and_no_other_braces() -> None:
    for t in templates():
        text = t["text"]
        assert is_clean_string(text), t["id"]
        assert text.count(SLOT) == 1, t["id"]
        rest = text.replace(SLOT, "")
        assert "{" not in rest and "}" not in rest, t["id"]


def test_each_template_asks_for_an_explanation_and_a_picture() -> None:
    no_image = [t["id"] for t in templates() if not IMAGE_WORDS.search(t["text"])]
    no_explain = [t["id"] for t in templates() if not EXPLAIN_WORDS.search(t["text"])]
    assert no_image == []
    assert no_explain == []


def test_templates_are_short_unique_and_varied_in_form() -> None:
    items = templates()
    assert all(len(t["text"].split()) <= 40 for t in items)
    keys = [norm(t["text"]) for t in items]
    assert len(set(keys)) == len(keys)
    forms = Counter(t["form"] for t in items)
    assert set(forms) <= FORMS
    assert len(forms) >= 5
    assert max(forms.values()) <= len(items) // 3, forms
    lengths = [len(t["text"].split()) for t in items]
    assert min(lengths) <= 12 and max(lengths) >= 25, "lengths should vary"


@pytest.mark.parametrize("topic", ["snow leopard", "Angkor Wat", "sourdough bread"])
def test_filled_templates_read_as_plain_requests(topic: str) -> None:
    for t in templates():
        filled = t["text"].replace(SLOT, topic)
        assert topic in filled and SLOT not in filled
        assert len(filled.split()) <= 50


# -- bench_questions.yaml -------------------------------------------------------------------


def test_bench_questions_are_well_formed() -> None:
    data = load("bench_questions.yaml")
    assert data["version"] == 1
    qs = questions()
    assert len(qs) >= 300
    assert all(set(q) == {"id", "domain", "category", "question"} for q in qs)
    ids = [q["id"] for q in qs]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"b\d{3}", i) for i in ids)
    assert all(is_clean_string(q["question"]) for q in qs)
    keys = [norm(q["question"]) for q in qs]
    assert len(set(keys)) == len(keys)


def test_bench_domains_and_categories_match_the_hierarchy() -> None:
    hierarchy: dict[str, set[str]] = {}
    for dom, cat in categories():
        hierarchy.setdefault(dom, set()).add(cat["name"])
    per_domain = Counter(q["domain"] for q in questions())
    assert set(per_domain) == set(hierarchy)
    assert min(per_domain.values()) >= 30, per_domain
    wrong = [q["id"] for q in questions() if q["category"] not in hierarchy[q["domain"]]]
    assert wrong == []


def test_each_bench_question_asks_for_an_explanation_and_an_image() -> None:
    assert [q["id"] for q in questions() if not IMAGE_WORDS.search(q["question"])] == []
    assert [q["id"] for q in questions() if not EXPLAIN_WORDS.search(q["question"])] == []
    assert [q["id"] for q in questions() if SLOT in q["question"]] == []


def template_patterns() -> list[tuple[str, str, str]]:
    """(id, text before the slot, text after it) of every template, normalised."""
    out = []
    for t in templates():
        before, after = t["text"].split(SLOT)
        out.append((t["id"], norm(before), norm(after)))
    return out


def filled_from(question: str, patterns: list[tuple[str, str, str]]) -> list[str]:
    """Ids of the templates that ``question`` is, with some text put in the slot."""
    key = norm(question)
    return [
        tid
        for tid, before, after in patterns
        if key.startswith(before) and key.endswith(after) and len(key) > len(before) + len(after)
    ]


def test_the_filled_template_check_catches_a_filled_template() -> None:
    patterns = template_patterns()
    for t in templates()[::25]:
        assert t["id"] in filled_from(t["text"].replace(SLOT, "the Okavango Delta"), patterns)


def test_no_bench_question_is_a_filled_template() -> None:
    """Held apart: no question equals any template with any text put in its slot."""
    patterns = template_patterns()
    clashes = [(q["id"], filled_from(q["question"], patterns)) for q in questions()]
    assert [c for c in clashes if c[1]] == []


def test_bench_question_topics_are_varied() -> None:
    qs = questions()
    cats = Counter((q["domain"], q["category"]) for q in qs)
    assert len(cats) >= 0.9 * len(categories())
    assert max(cats.values()) <= 0.05 * len(qs)
    for dom in {q["domain"] for q in qs}:
        assert sum(1 for d, _ in cats if d == dom) >= 5, dom
    openings = Counter(" ".join(norm(q["question"]).split()[:3]) for q in qs)
    assert len(openings) >= len(qs) // 3
    assert max(openings.values()) <= 0.2 * len(qs)
    # Subjects differ: questions sharing their first eight words would be near-copies.
    heads = Counter(" ".join(norm(q["question"]).split()[:8]) for q in qs)
    assert max(heads.values()) == 1
