"""The topic hierarchy (domain → category → topic) and the question templates.

Both are YAML files under ``resources/`` (or a user's own, named in the run config). Loading
validates them node by node and every error names the file and line::

    topics.yaml:14: category 'Birds' has no topics; add a `topics:` list of strings

Both loaders also read the *list layout* of the reference code's published inputs, told apart
by content (the top level is a list, not a mapping): a flat JSON or YAML list of topic names
(placed under one ``unknown`` domain and category; ``intersyn topics place`` groups them) and a
list of template strings whose slot is ``***`` or ``{topic}``. A list entry that cannot be used
— an empty name, a template without a slot or with two, a repeated text — is left out and
named with its line in :attr:`Hierarchy.left_out` / :attr:`Templates.left_out` (the command
prints them before it starts; ``run.json`` keeps them); a list with no usable entry is an error.

Topics are de-duplicated after case and space normalisation ("Red  Fox" == "red fox"); the
first occurrence wins and the dropped ones are reported by :attr:`Hierarchy.duplicates`.

Example::

    h = load_hierarchy()              # the shipped hierarchy
    h.counts()                        # {"domains": 8, "categories": 65, "topics": 3500}
    leaf = h.leaves()[0]              # TopicPath(domain=..., category=..., topic=...)
    templates = load_templates()      # [Template(id, text, form), ...]
    templates[0].fill(leaf.topic)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from intersyn.errors import ConfigError
from intersyn.schema import TopicPath

TOPIC_SLOT = "{topic}"
#: The slot of the reference code's template list (``ques_temp.json``).
REFERENCE_SLOT = "***"
#: Domain and category of the topics of a flat list (until ``topics place`` groups them).
UNKNOWN = "unknown"
#: How a topics or templates file was written: intersyn's YAML, or a flat list.
LAYOUT_YAML = "intersyn-yaml"
LAYOUT_LIST = "list"


def normalize(text: str) -> str:
    """The key two topics are compared by: case-folded, inner whitespace collapsed."""
    return " ".join(text.split()).casefold()


# -- YAML nodes with line marks ------------------------------------------------------------


@dataclass
class _Node:
    """A YAML value together with the (1-based) line it starts on."""

    value: Any
    line: int


def _convert(node: yaml.Node) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            out[str(key)] = _convert(value_node)
        return _Node(out, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_convert(v) for v in node.value], line)
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "tag:yaml.org,2002:str":
        return _Node(node.value, line)
    # A plain scalar resolved to an int, bool or null: resolve it the way safe_load would.
    return _Node(yaml.safe_load(node.value or "null"), line)


def _plain(value: Any) -> Any:
    """A node's value without the line marks (for error messages)."""
    if isinstance(value, _Node):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _compose(path: Path) -> _Node:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e}); save it as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        if text.lstrip().startswith(("[", "{")):
            return _json_node(path, text)  # JSON that YAML 1.1 does not take (tabs, "\/")
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if node is None:
        raise ConfigError(f"{path}: the file is empty; see the format in docs/seir.md")
    return _convert(node)


def _json_node(path: Path, text: str) -> _Node:
    """A JSON document as nodes; the entries of a top-level list keep their lines."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}: not valid JSON or YAML: {e.msg}") from None
    if not isinstance(value, list):
        return _Node(_wrap(value, 1), 1)
    decoder = json.JSONDecoder()
    items: list[_Node] = []
    at = text.index("[") + 1
    for _ in value:
        at = _skip(text, at, ",")
        item, end = decoder.raw_decode(text, at)
        items.append(_Node(_wrap(item, text.count("\n", 0, at) + 1), text.count("\n", 0, at) + 1))
        at = end
    return _Node(items, text.count("\n", 0, text.index("[")) + 1)


def _skip(text: str, at: int, separators: str) -> int:
    while text[at].isspace() or text[at] in separators:
        at += 1
    return at


def _wrap(value: Any, line: int) -> Any:
    """Plain JSON values as nodes, all on ``line`` (errors inside point at the entry)."""
    if isinstance(value, dict):
        return {str(k): _Node(_wrap(v, line), line) for k, v in value.items()}
    if isinstance(value, list):
        return [_Node(_wrap(v, line), line) for v in value]
    return value


class _Checker:
    """Small helpers that raise ConfigError naming file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{line}: {message}")

    def mapping(self, node: _Node, what: str) -> dict[str, _Node]:
        if not isinstance(node.value, dict):
            raise self.fail(node.line, f"{what} must be a mapping (key: value)")
        return node.value

    def sequence(self, node: _Node, what: str) -> list[_Node]:
        if not isinstance(node.value, list):
            raise self.fail(node.line, f"{what} must be a list")
        return node.value

    def text(self, node: _Node, what: str) -> str:
        if not isinstance(node.value, str) or not node.value.strip():
            raise self.fail(
                node.line, f"{what} must be a non-empty string, got {_plain(node.value)!r}"
            )
        return " ".join(node.value.split())

    def key(self, m: dict[str, _Node], name: str, line: int, what: str) -> _Node:
        if name not in m:
            raise self.fail(line, f"{what} has no `{name}:` key")
        return m[name]

    def version(self, top: dict[str, _Node], line: int) -> None:
        v = top.get("version")
        if v is None:
            raise self.fail(line, "missing `version: 1` at the top level")
        if v.value != 1:
            raise self.fail(v.line, f"unsupported version {v.value!r}; this intersyn reads 1")

    def only(self, m: dict[str, _Node], allowed: set[str], line: int, what: str) -> None:
        extra = sorted(set(m) - allowed)
        if extra:
            raise self.fail(
                m[extra[0]].line,
                f"{what}: unknown key `{extra[0]}` (allowed: {', '.join(sorted(allowed))})",
            )


# -- hierarchy ------------------------------------------------------------------------------


@dataclass
class Category:
    name: str
    topics: list[str]


@dataclass
class Domain:
    name: str
    categories: list[Category]


@dataclass
class Duplicate:
    """A topic dropped because an earlier one has the same normalised text."""

    topic: str
    line: int
    first: TopicPath


@dataclass(frozen=True)
class LeftOut:
    """An entry of a list-layout file that was not used, with its line and why."""

    line: int
    text: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass
class Hierarchy:
    domains: list[Domain]
    source: str = "<memory>"
    duplicates: list[Duplicate] = field(default_factory=list)
    #: ``intersyn-yaml`` or ``list`` (a flat list of names under ``unknown``/``unknown``).
    layout: str = LAYOUT_YAML
    #: Entries of a flat list that were not used (empty names, not text); duplicates apart.
    left_out: list[LeftOut] = field(default_factory=list)
    _leaves: list[TopicPath] | None = field(default=None, repr=False)

    def leaves(self) -> list[TopicPath]:
        """Every topic as a TopicPath, in file order (the draw space of seeds)."""
        if self._leaves is None:
            self._leaves = [
                TopicPath(domain=d.name, category=c.name, topic=t)
                for d in self.domains
                for c in d.categories
                for t in c.topics
            ]
        return self._leaves

    def counts(self) -> dict[str, int]:
        return {
            "domains": len(self.domains),
            "categories": sum(len(d.categories) for d in self.domains),
            "topics": len(self.leaves()),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "domains": [
                {
                    "name": d.name,
                    "categories": [
                        {"name": c.name, "topics": list(c.topics)} for c in d.categories
                    ],
                }
                for d in self.domains
            ],
        }

    def digest(self) -> str:
        """A short hash of the content (part of a run's fingerprint: draws depend on it)."""
        blob = yaml.safe_dump(self.to_dict(), sort_keys=True, allow_unicode=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Seen:
    """Topics by normalised text: the first occurrence wins, later ones become duplicates."""

    def __init__(self) -> None:
        self.first: dict[str, TopicPath] = {}
        self.duplicates: list[Duplicate] = []

    def keep(self, path: TopicPath, line: int) -> bool:
        """Whether ``path``'s topic is new (and now taken); else it is recorded as a duplicate."""
        key = normalize(path.topic)
        if key in self.first:
            self.duplicates.append(Duplicate(path.topic, line, self.first[key]))
            return False
        self.first[key] = path
        return True


def default_path(name: str) -> Path:
    return Path(str(resources.files("intersyn.resources").joinpath(name)))


def _open_resource(
    path: str | Path | None, default: str, key: str, shipped: str, setting: str, entries: str
) -> tuple[Path, _Checker, _Node, str]:
    """Open a resource file (or the shipped one) and tell its layout by content: a top-level
    list is the list layout; else check ``version`` and the one list ``key``. Returns the
    path, the checker (for file:line errors), the list's node and the layout."""
    p = Path(path) if path is not None else default_path(default)
    if path is None and not p.exists():
        raise ConfigError(f"{p}: {shipped} is missing; set {setting} to your own YAML file")
    root = _compose(p)
    ck = _Checker(p)
    if isinstance(root.value, list):
        return p, ck, root, LAYOUT_LIST
    layouts = f"`version: 1` and `{key}:` (see docs/seir.md), or a flat list of {entries}"
    top = ck.mapping(root, f"the top level ({layouts})")
    if "version" not in top and key not in top:
        raise ck.fail(root.line, f"neither layout: the top level needs {layouts}")
    ck.version(top, root.line)
    ck.only(top, {"version", key}, root.line, "top level")
    return p, ck, ck.key(top, key, root.line, "the top level"), LAYOUT_YAML


def _no_usable_entry(ck: _Checker, node: _Node, what: str, left_out: list[LeftOut]) -> ConfigError:
    shown = "; ".join(f"line {x.line}: {x.reason}" for x in left_out[:5])
    more = f" (and {len(left_out) - 5} more)" if len(left_out) > 5 else ""
    found = f": {shown}{more}" if left_out else ""
    return ck.fail(node.line, f"the list holds no usable {what}{found}")


def _list_text(node: _Node, what: str) -> tuple[str | None, LeftOut | None]:
    """A list entry's text (inner whitespace collapsed), or why it is left out."""
    value = node.value
    if isinstance(value, str) and value.strip():
        return " ".join(value.split()), None
    shown = _plain(value)
    reason = f"{what} is empty" if isinstance(value, str) else f"{what} is not text: {shown!r}"
    return None, LeftOut(node.line, str(shown) if shown is not None else "", reason)


def load_hierarchy(path: str | Path | None = None) -> Hierarchy:
    """Load and validate a hierarchy (default: the shipped ``resources/topics.yaml``).

    Format: ``{version: 1, domains: [{name, categories: [{name, topics: [str, ...]}]}]}``, or a
    flat JSON/YAML list of topic names (all under domain and category ``unknown``).
    """
    p, ck, domains_node, layout = _open_resource(
        path, "topics.yaml", "domains", "the shipped topic hierarchy", "seir.topics", "topics"
    )
    if layout == LAYOUT_LIST:
        return _hierarchy_from_list(p, ck, domains_node)
    seen = _Seen()
    domains: list[Domain] = []
    domain_names: dict[str, int] = {}
    for dnode in ck.sequence(domains_node, "`domains`"):
        dm = ck.mapping(dnode, "a domain")
        ck.only(dm, {"name", "categories"}, dnode.line, "domain")
        dname = ck.text(ck.key(dm, "name", dnode.line, "a domain"), "a domain name")
        if normalize(dname) in domain_names:
            raise ck.fail(
                dnode.line,
                f"domain {dname!r} is listed twice (first at line {domain_names[normalize(dname)]});"
                " merge the two",
            )
        domain_names[normalize(dname)] = dnode.line
        categories: list[Category] = []
        cat_names: dict[str, int] = {}
        cats_node = ck.key(dm, "categories", dnode.line, f"domain {dname!r}")
        for cnode in ck.sequence(cats_node, f"categories of {dname!r}"):
            cm = ck.mapping(cnode, "a category")
            ck.only(cm, {"name", "topics"}, cnode.line, "category")
            cname = ck.text(ck.key(cm, "name", cnode.line, "a category"), "a category name")
            if normalize(cname) in cat_names:
                raise ck.fail(
                    cnode.line,
                    f"category {cname!r} appears twice in domain {dname!r} "
                    f"(first at line {cat_names[normalize(cname)]}); merge the two",
                )
            cat_names[normalize(cname)] = cnode.line
            topics_node = ck.key(cm, "topics", cnode.line, f"category {cname!r}")
            topics: list[str] = []
            for tnode in ck.sequence(topics_node, f"topics of {cname!r}"):
                topic = ck.text(tnode, "a topic")
                if seen.keep(TopicPath(domain=dname, category=cname, topic=topic), tnode.line):
                    topics.append(topic)
            if not topics and not topics_node.value:
                raise ck.fail(
                    topics_node.line, f"category {cname!r} has no topics; add topic strings"
                )
            if topics:
                categories.append(Category(cname, topics))
        if not categories:
            raise ck.fail(dnode.line, f"domain {dname!r} has no categories with topics")
        domains.append(Domain(dname, categories))
    if not domains:
        raise ck.fail(domains_node.line, "`domains` is empty; add at least one domain")
    return Hierarchy(domains, source=str(p), duplicates=seen.duplicates)


def _hierarchy_from_list(p: Path, ck: _Checker, root: _Node) -> Hierarchy:
    """A flat list of topic names: one ``unknown`` domain and category, duplicates dropped
    (first wins, as in the YAML layout), empty entries left out; each named by its line."""
    seen = _Seen()
    left_out: list[LeftOut] = []
    topics: list[str] = []
    for node in root.value:
        topic, problem = _list_text(node, "the topic")
        if topic is None:
            left_out.append(problem)  # type: ignore[arg-type]
        elif seen.keep(TopicPath(domain=UNKNOWN, category=UNKNOWN, topic=topic), node.line):
            topics.append(topic)
    if not topics:
        raise _no_usable_entry(ck, root, "topic name", left_out)
    domains = [Domain(UNKNOWN, [Category(UNKNOWN, topics)])]
    return Hierarchy(
        domains, source=str(p), duplicates=seen.duplicates, layout=LAYOUT_LIST, left_out=left_out
    )


# -- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A topic-free question pattern with a ``{topic}`` slot."""

    id: str
    text: str
    form: str = "direct"

    def fill(self, topic: str) -> str:
        # str.replace, not str.format: other braces in a template stay literal.
        return self.text.replace(TOPIC_SLOT, topic)


@dataclass
class Templates:
    items: list[Template]
    source: str = "<memory>"
    #: ``intersyn-yaml`` or ``list`` (a list of template strings, slot ``***`` or ``{topic}``).
    layout: str = LAYOUT_YAML
    #: Entries of a list that were not used: no slot, two slots, empty, repeated.
    left_out: list[LeftOut] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __getitem__(self, i: int) -> Template:
        return self.items[i]

    def by_id(self, template_id: str) -> Template:
        for t in self.items:
            if t.id == template_id:
                return t
        raise ConfigError(f"{self.source}: no template with id {template_id!r}")

    def digest(self) -> str:
        blob = "\n".join(f"{t.id}\t{t.form}\t{t.text}" for t in self.items)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_templates(path: str | Path | None = None) -> Templates:
    """Load and validate templates YAML (default: the shipped ``resources/templates.yaml``).

    Format: ``{version: 1, templates: [{id, text (with a {topic} slot), form}]}``, or a list
    of template strings whose slot is ``***`` or ``{topic}`` (ids ``r001``… by position).
    """
    p, ck, items_node, layout = _open_resource(
        path,
        "templates.yaml",
        "templates",
        "the shipped templates",
        "seir.templates",
        "template strings",
    )
    if layout == LAYOUT_LIST:
        return _templates_from_list(p, ck, items_node)
    items: list[Template] = []
    ids: dict[str, int] = {}
    texts: dict[str, int] = {}
    for node in ck.sequence(items_node, "`templates`"):
        m = ck.mapping(node, "a template")
        ck.only(m, {"id", "text", "form"}, node.line, "template")
        id_node = ck.key(m, "id", node.line, "a template")
        tid = id_node.value
        if isinstance(tid, int) and not isinstance(tid, bool):
            tid = str(tid)
        tid = ck.text(_Node(tid, id_node.line), "a template id")
        if tid in ids:
            raise ck.fail(id_node.line, f"template id {tid!r} already used at line {ids[tid]}")
        ids[tid] = id_node.line
        text_node = ck.key(m, "text", node.line, f"template {tid!r}")
        text = ck.text(text_node, f"the text of template {tid!r}")
        if TOPIC_SLOT not in text:
            raise ck.fail(
                text_node.line,
                f"template {tid!r} has no {TOPIC_SLOT} slot; write {TOPIC_SLOT} where the topic goes",
            )
        if normalize(text) in texts:
            raise ck.fail(
                text_node.line,
                f"template {tid!r} repeats the text of line {texts[normalize(text)]}",
            )
        texts[normalize(text)] = text_node.line
        form = ck.text(m["form"], f"the form of template {tid!r}") if "form" in m else "direct"
        items.append(Template(tid, text, form))
    if not items:
        raise ck.fail(items_node.line, "`templates` is empty; add at least one template")
    return Templates(items, source=str(p))


#: Runs of two or more asterisks: ``***`` is the reference slot, any other run a blank.
_STARS = re.compile(r"\*{2,}")
#: Form of a template read from a list (the list says nothing about it).
LIST_FORM = "unspecified"


def slot_problem(text: str) -> str | None:
    """Why a list template cannot be filled with a topic, or None: it needs exactly one kind
    of slot, ``***`` or ``{topic}`` (used once or more), and no other blank."""
    runs = _STARS.findall(text)
    reference = REFERENCE_SLOT in runs
    ours = TOPIC_SLOT in text
    blanks = sorted({r for r in runs if r != REFERENCE_SLOT})
    if reference and ours:
        return f"two slots, {REFERENCE_SLOT} and {TOPIC_SLOT}; keep one"
    if blanks and (reference or ours):
        slot = REFERENCE_SLOT if reference else TOPIC_SLOT
        return f"two slots, {slot} and {blanks[0]} (a blank no topic fills); keep one"
    if not (reference or ours):
        also = f" ({blanks[0]} is not a slot)" if blanks else ""
        return f"no slot{also}; write {REFERENCE_SLOT} or {TOPIC_SLOT} where the topic goes"
    return None


def _templates_from_list(p: Path, ck: _Checker, root: _Node) -> Templates:
    """A list of template strings: slot ``***`` (or ``{topic}``), ids ``r001``… by position;
    entries without a usable slot, empty or repeated are left out, each named by its line."""
    items: list[Template] = []
    left_out: list[LeftOut] = []
    texts: dict[str, int] = {}
    for i, node in enumerate(root.value, start=1):
        text, problem = _list_text(node, "the template")
        if text is None:
            left_out.append(problem)  # type: ignore[arg-type]
            continue
        why = slot_problem(text)
        if why is None and normalize(text) in texts:
            why = f"repeats the template of line {texts[normalize(text)]}"
        if why is not None:
            left_out.append(LeftOut(node.line, text, why))
            continue
        texts[normalize(text)] = node.line
        items.append(Template(f"r{i:03d}", text.replace(REFERENCE_SLOT, TOPIC_SLOT), LIST_FORM))
    if not items:
        raise _no_usable_entry(ck, root, "template", left_out)
    return Templates(items, source=str(p), layout=LAYOUT_LIST, left_out=left_out)


def left_out_notes(h: Hierarchy, t: Templates) -> list[str]:
    """One line per entry of the inputs that is not used (duplicates, empty names, templates
    without a usable slot), for a command to print before it starts."""
    notes = [
        f"{h.source}:{d.line}: topic {d.topic!r} repeats {d.first.topic!r}, left out"
        for d in h.duplicates
    ]
    notes += [f"{h.source}:{x.line}: {x.reason}, left out" for x in h.left_out]
    notes += [f"{t.source}:{x.line}: template {x.text!r}: {x.reason}, left out" for x in t.left_out]
    return notes


def resources_note(h: Hierarchy, t: Templates, *, limit: int = 200) -> dict[str, Any]:
    """What ``run.json`` records about a run's topics and templates: files, layouts, counts,
    and the entries left out (at most ``limit`` of each, with their total)."""

    def listed(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"count": len(rows), "entries": rows[:limit]}

    topics_out = [
        {"line": d.line, "text": d.topic, "reason": f"repeats {d.first.topic!r}"}
        for d in h.duplicates
    ] + [x.to_json() for x in h.left_out]
    return {
        "topics": h.source,
        "templates": t.source,
        "counts": h.counts(),
        "layouts": {"topics": h.layout, "templates": t.layout},
        "left_out": {
            "topics": listed(topics_out),
            "templates": listed([x.to_json() for x in t.left_out]),
        },
    }
