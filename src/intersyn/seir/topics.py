"""The topic hierarchy (domain → category → topic) and the question templates.

Both are YAML files under ``resources/`` (or a user's own, named in the run config). Loading
validates them node by node and every error names the file and line::

    topics.yaml:14: category 'Birds' has no topics; add a `topics:` list of strings

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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from intersyn.errors import ConfigError
from intersyn.schema import TopicPath

TOPIC_SLOT = "{topic}"


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
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if node is None:
        raise ConfigError(f"{path}: the file is empty; see the format in docs/seir.md")
    return _convert(node)


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


@dataclass
class Hierarchy:
    domains: list[Domain]
    source: str = "<memory>"
    duplicates: list[Duplicate] = field(default_factory=list)
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


def default_path(name: str) -> Path:
    return Path(str(resources.files("intersyn.resources").joinpath(name)))


def _open_resource(
    path: str | Path | None, default: str, key: str, shipped: str, setting: str
) -> tuple[Path, _Checker, Any]:
    """Open a resource YAML (or the shipped one), check ``version`` and its one list ``key``;
    return the path, the checker (for file:line errors) and the list's node."""
    p = Path(path) if path is not None else default_path(default)
    if path is None and not p.exists():
        raise ConfigError(f"{p}: {shipped} is missing; set {setting} to your own YAML file")
    root = _compose(p)
    ck = _Checker(p)
    top = ck.mapping(root, "the top level")
    ck.version(top, root.line)
    ck.only(top, {"version", key}, root.line, "top level")
    return p, ck, ck.key(top, key, root.line, "the top level")


def load_hierarchy(path: str | Path | None = None) -> Hierarchy:
    """Load and validate a hierarchy YAML (default: the shipped ``resources/topics.yaml``).

    Format: ``{version: 1, domains: [{name, categories: [{name, topics: [str, ...]}]}]}``.
    """
    p, ck, domains_node = _open_resource(
        path, "topics.yaml", "domains", "the shipped topic hierarchy", "seir.topics"
    )
    seen: dict[str, TopicPath] = {}
    duplicates: list[Duplicate] = []
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
                key = normalize(topic)
                if key in seen:
                    duplicates.append(Duplicate(topic, tnode.line, seen[key]))
                    continue
                seen[key] = TopicPath(domain=dname, category=cname, topic=topic)
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
    return Hierarchy(domains, source=str(p), duplicates=duplicates)


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

    Format: ``{version: 1, templates: [{id, text (with a {topic} slot), form}]}``.
    """
    p, ck, items_node = _open_resource(
        path, "templates.yaml", "templates", "the shipped templates", "seir.templates"
    )
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
