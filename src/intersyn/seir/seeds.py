"""Seeds: everything a sample is made from, drawn deterministically from (run seed, index).

Sample ``i`` gets the same topic, templates, turn count and random seed whatever order, engine
or resume produced it: each seed comes from its own generator ``default_rng([run_seed, i])``,
never from a shared stream. Image and call seeds are derived from the sample seed by hashing,
so they too are fixed by the run seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from intersyn.schema import TopicPath

_SEED_MAX = 2**31 - 1


@dataclass(frozen=True)
class SampleSeed:
    """(sample id, topic, template, number of turns, random seed) — DESIGN.md's *seed*."""

    sample_id: str
    index: int
    topic: TopicPath
    template_id: str
    turns: int
    seed: int
    #: One template per turn (``turn_templates[0] == template_id``).
    turn_templates: tuple[str, ...] = ()


def sample_id(index: int) -> str:
    """``s000001`` for index 0: zero-padded, stable, sortable up to a million samples."""
    return f"s{index + 1:06d}"


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from any parts (sample seed, turn, round, purpose): stable across runs."""
    blob = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big") % _SEED_MAX


def _turn_probabilities(turn_weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(turn_weights, dtype=float)
    if w.size == 0 or (w < 0).any() or w.sum() <= 0:
        raise ValueError("seir.turn_weights must be non-negative with a positive sum")
    return w / w.sum()


def make_seed(
    run_seed: int,
    index: int,
    topics: Sequence[TopicPath],
    template_ids: Sequence[str],
    turn_weights: Sequence[float],
) -> SampleSeed:
    """The seed of sample ``index`` of a run (see module doc)."""
    rng = np.random.default_rng([run_seed, index])
    topic = topics[int(rng.integers(len(topics)))]
    p = _turn_probabilities(turn_weights)
    turns = int(rng.choice(len(p), p=p)) + 1
    seed = int(rng.integers(_SEED_MAX))
    # Always draw a template for the largest possible turn count, so the draws of one
    # sample do not depend on how many turns it got.
    picks = rng.integers(len(template_ids), size=len(p))
    templates = tuple(template_ids[int(i)] for i in picks[:turns])
    return SampleSeed(
        sample_id=sample_id(index),
        index=index,
        topic=topic,
        template_id=templates[0],
        turns=turns,
        seed=seed,
        turn_templates=templates,
    )


def iter_seeds(
    run_seed: int,
    indices: Iterable[int],
    topics: Sequence[TopicPath],
    template_ids: Sequence[str],
    turn_weights: Sequence[float],
) -> Iterator[SampleSeed]:
    """Seeds for ``indices``, lazily (memory does not grow with the run's size)."""
    for i in indices:
        yield make_seed(run_seed, i, topics, template_ids, turn_weights)
