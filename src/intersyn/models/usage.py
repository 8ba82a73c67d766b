"""Usage accounting per role, and cost from an editable price table.

Every call the gate makes (or replays from the cache) is recorded here: calls, input/output
tokens, image inputs, images made, latency percentiles, retries, failures, cache hits and an
estimated cost. :meth:`UsageBook.report` is JSON-able.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from intersyn.errors import ConfigError
from intersyn.models.base import Usage

#: Latencies kept per role for percentiles (a uniform reservoir sample beyond this).
RESERVOIR = 20_000


@dataclass
class Price:
    """USD per million input/output tokens, per image made and per image input."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    per_image: float = 0.0
    per_image_input: float = 0.0

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_mtok / 1e6
            + usage.output_tokens * self.output_per_mtok / 1e6
            + usage.images_made * self.per_image
            + usage.image_inputs * self.per_image_input
        )


class PriceTable:
    """Model name → :class:`Price`, from ``resources/prices.yaml`` or a user's file."""

    def __init__(
        self,
        exact: dict[str, Price],
        patterns: list[tuple[str, Price]],
        default: Price,
        source: str = "",
    ) -> None:
        self.exact = {k.lower(): v for k, v in exact.items()}
        self.patterns = [(p.lower(), v) for p, v in patterns]
        self.default = default
        self.source = source

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Load a price table; ``None`` loads the shipped one. Errors name the file and entry."""
        if path is None:
            ref = resources.files("intersyn.resources").joinpath("prices.yaml")
            text, source = ref.read_text(encoding="utf-8"), "intersyn/resources/prices.yaml"
        else:
            p = Path(path)
            source = str(p)
            try:
                text = p.read_text(encoding="utf-8")
            except OSError as e:
                raise ConfigError(f"{p}: cannot read the price table ({e.strerror})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{source}: not valid YAML ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a price table is a mapping with `models:` and `default:`")
        return cls(
            {k: _price(v, source, f"models.{k}") for k, v in (data.get("models") or {}).items()},
            [
                (k, _price(v, source, f"patterns.{k}"))
                for k, v in (data.get("patterns") or {}).items()
            ],
            _price(data.get("default") or {}, source, "default"),
            source,
        )

    def price(self, model: str) -> Price:
        name = model.lower()
        if name in self.exact:
            return self.exact[name]
        for pattern, price in self.patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return price
        return self.default


def _price(value: Any, source: str, where: str) -> Price:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {where} must be a mapping like {{input_per_mtok: 1.0}}")
    try:
        return Price(**{k: float(v) for k, v in value.items()})
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"{source}: {where}: {e}; allowed keys are input_per_mtok, output_per_mtok, "
            "per_image, per_image_input (numbers)"
        ) from None


@dataclass
class RoleUsage:
    """Running totals for one role."""

    model: str = ""
    calls: int = 0
    ok: int = 0
    failures: int = 0
    retries: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    image_inputs: int = 0
    images_made: int = 0
    cost_usd: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    _latencies: list[float] = field(default_factory=list)
    _seen: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def add_latency(self, seconds: float) -> None:
        self._seen += 1
        if len(self._latencies) < RESERVOIR:
            self._latencies.append(seconds)
            return
        j = self._rng.randrange(self._seen)
        if j < RESERVOIR:
            self._latencies[j] = seconds

    def percentiles(self) -> dict[str, float | None]:
        if not self._latencies:
            return {"p50": None, "p95": None, "p99": None, "mean": None}
        xs = sorted(self._latencies)

        def q(p: float) -> float:
            return round(xs[min(len(xs) - 1, int(p * len(xs)))], 4)

        return {
            "p50": q(0.50),
            "p95": q(0.95),
            "p99": q(0.99),
            "mean": round(sum(xs) / len(xs), 4),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "calls": self.calls,
            "ok": self.ok,
            "failures": self.failures,
            "retries": self.retries,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "image_inputs": self.image_inputs,
            "images_made": self.images_made,
            "cost_usd": round(self.cost_usd, 6),
            "latency_s": self.percentiles(),
            "errors": dict(self.errors),
        }


class UsageBook:
    """Usage per role; the cost of each call from the price table."""

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices or PriceTable({}, [], Price())
        self.roles: dict[str, RoleUsage] = {}
        self.spent_usd = 0.0

    def role(self, name: str, model: str = "") -> RoleUsage:
        r = self.roles.get(name)
        if r is None:
            r = self.roles[name] = RoleUsage(model=model)
        return r

    def record_ok(self, role: str, model: str, usage: Usage) -> float:
        """Count a successful call (or cache hit); returns its cost (0 for a hit)."""
        r = self.role(role, model)
        r.calls += 1
        r.ok += 1
        r.retries += usage.retries
        if usage.cached:
            r.cache_hits += 1
            return 0.0
        r.input_tokens += usage.input_tokens
        r.output_tokens += usage.output_tokens
        r.image_inputs += usage.image_inputs
        r.images_made += usage.images_made
        r.add_latency(usage.latency_s)
        cost = self.prices.price(model).cost(usage)
        usage.cost_usd = cost
        r.cost_usd += cost
        self.spent_usd += cost
        return cost

    def record_failure(self, role: str, model: str, kind: str, retries: int) -> None:
        r = self.role(role, model)
        r.calls += 1
        r.failures += 1
        r.retries += retries
        r.errors[kind] = r.errors.get(kind, 0) + 1

    _TOTAL_KEYS = (
        "calls",
        "ok",
        "failures",
        "retries",
        "cache_hits",
        "input_tokens",
        "output_tokens",
        "image_inputs",
        "images_made",
    )

    def totals(self) -> dict[str, Any]:
        """The report's ``total`` alone: cheap (no latency percentiles), for per-item progress."""
        total: dict[str, Any] = {
            k: sum(getattr(r, k) for r in self.roles.values()) for k in self._TOTAL_KEYS
        }
        total["cost_usd"] = round(self.spent_usd, 6)
        return total

    def report(self, budget_usd: float | None = None) -> dict[str, Any]:
        """A JSON-able report: per role and in total."""
        roles = {name: r.as_dict() for name, r in sorted(self.roles.items())}
        total = self.totals()
        return {
            "roles": roles,
            "total": total,
            "budget_usd": budget_usd,
            "prices": self.prices.source,
        }
