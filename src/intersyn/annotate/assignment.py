"""Who rates what: every item to ``overlap`` annotators, balanced and deterministic.

Assignment works sample by sample, so an annotator who rates turn 3 of a dialogue also rates
turns 1 and 2 and reads the dialogue in order. Each sample goes to the ``overlap`` annotators
with the fewest items so far; ties are broken by a rotation that moves one place per sample,
so the pairs that share items vary (Krippendorff's α needs overlapping pairs, not all pairs).

The result depends only on the samples' order and turn counts and on the annotators' order:
the same inputs always give the same queues.

>>> assign([("s1", 2), ("s2", 1), ("s3", 1)], ["a", "b"], overlap=1)
{'a': [('s1', 0), ('s1', 1)], 'b': [('s2', 0), ('s3', 0)]}
"""

from __future__ import annotations

from collections.abc import Sequence

from intersyn.errors import InputError

ItemKey = tuple[str, int]


def assign(
    samples: Sequence[tuple[str, int]], annotators: Sequence[str], overlap: int
) -> dict[str, list[ItemKey]]:
    """Queues of (sample_id, turn) per annotator, in dataset order.

    ``samples`` is a list of (sample_id, number of turns). Every turn of a sample goes to the
    same ``min(overlap, len(annotators))`` annotators; annotators' item counts differ by at most
    the largest number of turns of one sample.
    """
    if not annotators:
        raise InputError("no annotators: pass --annotators a,b,c")
    if len(set(annotators)) != len(annotators):
        raise InputError(f"annotator names repeat in {list(annotators)}; each name must be unique")
    if overlap < 1:
        raise InputError(f"--overlap must be at least 1, got {overlap}")
    n = len(annotators)
    r = min(overlap, n)
    load = [0] * n
    queues: dict[str, list[ItemKey]] = {a: [] for a in annotators}
    for s, (sample_id, turns) in enumerate(samples):

        def rank(i: int, s: int = s) -> tuple[int, int]:
            return (load[i], (i - s) % n)

        chosen = sorted(range(n), key=rank)[:r]
        for i in sorted(chosen):
            load[i] += turns
            queues[annotators[i]].extend((sample_id, t) for t in range(turns))
    return queues
