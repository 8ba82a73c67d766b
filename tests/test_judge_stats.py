"""Summary and agreement numbers, checked against numpy, scipy, scikit-learn, krippendorff
and cases computed by hand; ratings files and their errors; the agreement chart."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from intersyn.errors import InputError
from intersyn.judge.agreement import compare, fast_metrics, inter_annotator, point_metrics
from intersyn.judge.plots import plot_agreement
from intersyn.judge.ratings import load_ratings
from intersyn.judge.summary import summarize
from intersyn.schema import DIMENSIONS, Judgement, Rating, TopicPath

DIMS = list(DIMENSIONS)


def J(sid: str, scores: list[int] | None, turn: int = 0, **kw: object) -> Judgement:
    if scores is None:
        return Judgement(
            sample_id=sid, turn=turn, status="unparsed", judge_model="m", rubric_version="r@1"
        )
    return Judgement(
        sample_id=sid,
        turn=turn,
        judge_model="m",
        rubric_version="r@1",
        **dict(zip(DIMS, scores, strict=False)),
        **kw,
    )  # type: ignore[arg-type]


def R(sid: str, scores: list[int], annotator: str = "h1", turn: int = 0) -> Rating:
    return Rating(
        sample_id=sid, turn=turn, annotator=annotator, **dict(zip(DIMS, scores, strict=False))
    )  # type: ignore[arg-type]


# -- summary ---------------------------------------------------------------------------------
def test_summary_means_variance_overall_by_hand() -> None:
    js = [J("a", [4, 2, 5, 3]), J("b", [2, 2, 3, 1]), J("c", None), J("d", [0, 5, 4, 2])]
    s = summarize(js, n_boot=200)
    assert (s["n_items"], s["n_ok"], s["n_unparsed"]) == (4, 3, 1)
    assert s["dimensions"]["tcc"]["mean"] == pytest.approx(2.0)
    assert s["dimensions"]["tcc"]["variance"] == pytest.approx(4.0)  # ((2)^2+0+(-2)^2)/2
    assert s["dimensions"]["icc"]["mean"] == pytest.approx(3.0)
    assert s["dimensions"]["its"]["n"] == 3 and s["dimensions"]["its"]["n_unparsed"] == 1
    assert s["overall"]["mean"] == pytest.approx(np.mean([2.0, 3.0, 4.0, 2.0]))
    lo, hi = s["dimensions"]["tcc"]["ci95"]
    assert 0.0 <= lo <= 2.0 <= hi <= 4.0


def test_summary_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(1)
    js = [J(f"s{i}", list(rng.integers(0, 6, 4))) for i in range(200)]
    a, b = summarize(js, n_boot=300, seed=4), summarize(js, n_boot=300, seed=4)
    assert a["dimensions"]["iq"]["ci95"] == b["dimensions"]["iq"]["ci95"]
    m = a["dimensions"]["iq"]["mean"]
    lo, hi = a["dimensions"]["iq"]["ci95"]
    se = np.std([j.iq for j in js], ddof=1) / np.sqrt(200)
    assert lo < m < hi and hi - lo == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_summary_breakdown_and_instability() -> None:
    js = [
        J(
            "a",
            [4, 4, 4, 4],
            draws=[
                {"tcc": 4, "icc": 4, "iq": 4, "its": 4},
                {"tcc": 2, "icc": 4, "iq": 4, "its": 4},
            ],
        ),
        J("b", [3, 3, 3, 3], draws=[{"tcc": 3, "icc": 3, "iq": 3, "its": 3}] * 2),
    ]
    topics = {
        "a": TopicPath(domain="D1", category="C", topic="t"),
        "b": TopicPath(domain="D2", category="C", topic="t"),
    }
    s = summarize(js, topics, n_boot=100)
    # k > 1: a turn's value is the mean of its draws.
    assert s["dimensions"]["tcc"]["mean"] == pytest.approx((3.0 + 3.0) / 2)
    assert s["by_domain"]["D1"]["tcc"] == pytest.approx(3.0)
    inst = s["instability"]
    assert inst["tcc"]["mean_std"] == pytest.approx((1.0 + 0.0) / 2)
    assert inst["tcc"]["share_varying"] == 0.5 and inst["icc"]["share_varying"] == 0.0
    assert inst["share_any_varying"] == 0.5


# -- agreement -------------------------------------------------------------------------------
def _random_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 6, n)
    j = np.clip(h + rng.integers(-2, 3, n), 0, 5)
    return j, h


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_the_libraries(seed: int) -> None:
    j, h = _random_pairs(60, seed)
    m = point_metrics(j, h)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((j - h) ** 2)))
    assert m["mae"] == pytest.approx(np.mean(np.abs(j - h)))
    assert m["exact"] == pytest.approx(np.mean(j == h))
    assert m["a1"] == pytest.approx(np.mean(np.abs(j - h) <= 1))
    assert m["pearson"] == pytest.approx(stats.pearsonr(j, h)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(j, h)[0])
    assert m["kendall"] == pytest.approx(stats.kendalltau(j, h)[0])
    assert m["qwk"] == pytest.approx(
        cohen_kappa_score(j, h, weights="quadratic", labels=list(range(6)))
    )
    fast = fast_metrics(j, h)
    for k, v in m.items():
        assert fast[k] == pytest.approx(v), k


def test_a1_and_exact_by_hand_and_constant_correlation_is_none() -> None:
    m = point_metrics(np.array([3, 3, 3, 3]), np.array([3, 4, 5, 1]))
    assert m["exact"] == 0.25 and m["a1"] == 0.5
    assert m["pearson"] is None and m["spearman"] is None and m["kendall"] is None


def test_compare_pairs_by_sample_and_turn_with_cis() -> None:
    rng = np.random.default_rng(3)
    js, rs = [], []
    for i in range(40):
        h = list(rng.integers(0, 6, 4))
        js.append(J(f"s{i}", [int(min(5, x + (i % 2))) for x in h], turn=i % 2))
        rs.append(R(f"s{i}", h, turn=i % 2))
    js.append(J("unrated", [1, 1, 1, 1]))
    rs.append(R("s0", [0, 0, 0, 0], turn=5))  # this turn was never judged
    res = compare({"judge-a": js}, rs, n_boot=200, seed=1)
    a = res["judges"]["judge-a"]
    assert a["n_items"] == 40 and a["n_unmatched_ratings"] == 1
    assert res["unmatched"] == [{"sample_id": "s0", "turn": 5}]
    jt = np.array([j.tcc for j in js[:40]])
    ht = np.array([r.tcc for r in rs[:40]])
    assert a["dimensions"]["tcc"]["rmse"]["value"] == pytest.approx(
        np.sqrt(np.mean((jt - ht) ** 2))
    )
    pooled_j = np.array([[getattr(j, d) for d in DIMS] for j in js[:40]]).ravel()
    pooled_h = np.array([[getattr(r, d) for d in DIMS] for r in rs[:40]]).ravel()
    assert a["overall"]["a1"]["value"] == pytest.approx(np.mean(np.abs(pooled_j - pooled_h) <= 1))
    lo, hi = a["dimensions"]["its"]["mae"]["ci95"]
    assert lo <= a["dimensions"]["its"]["mae"]["value"] <= hi
    again = compare({"judge-a": js}, rs, n_boot=200, seed=1)
    assert again["judges"]["judge-a"]["dimensions"]["its"]["mae"]["ci95"] == [lo, hi]


def test_unparsed_judgements_are_excluded_not_scored() -> None:
    js = [J("a", [5, 5, 5, 5]), J("b", None)]
    rs = [R("a", [5, 5, 5, 5]), R("b", [0, 0, 0, 0])]
    a = compare({"j": js}, rs, n_boot=50)["judges"]["j"]
    assert a["n_items"] == 1 and a["n_not_scored"] == 1
    assert a["dimensions"]["tcc"]["exact"]["value"] == 1.0


def test_inter_annotator_alpha_equals_krippendorff_and_pairwise_a1() -> None:
    rng = np.random.default_rng(7)
    ratings = []
    matrix = {d: np.full((3, 30), np.nan) for d in DIMS}
    for i in range(30):
        base = rng.integers(0, 6, 4)
        for a, name in enumerate(["ann1", "ann2", "ann3"]):
            if a == 2 and i % 3 == 0:
                continue  # ann3 skipped some turns: missing values
            s = [int(np.clip(b + rng.integers(-1, 2), 0, 5)) for b in base]
            ratings.append(R(f"s{i:02d}", s, annotator=name))
            for k, d in enumerate(DIMS):
                matrix[d][a, i] = s[k]
    res = inter_annotator(ratings)
    for d in DIMS:
        for level in ("interval", "ordinal"):
            want = krippendorff.alpha(
                reliability_data=matrix[d], level_of_measurement=level, value_domain=list(range(6))
            )
            assert res[f"alpha_{level}"][d] == pytest.approx(want)
        assert res["alpha"][d] == res["alpha_ordinal"][d]
    by = {(r.annotator, r.sample_id): r for r in ratings}
    pair = next(p for p in res["pairwise"] if (p["a"], p["b"]) == ("ann1", "ann3"))
    common = [s for (a, s) in by if a == "ann3"]
    assert pair["n"] == len(common) == 20
    want = np.mean([abs(by[("ann1", s)].iq - by[("ann3", s)].iq) <= 1 for s in common])
    assert pair["iq"]["a1"] == pytest.approx(want)


def test_inter_annotator_needs_two_annotators() -> None:
    res = inter_annotator([R("a", [1, 2, 3, 4]), R("b", [1, 2, 3, 4])])
    assert res["alpha"] == dict.fromkeys(DIMS) and "two annotators" in res["note"]


def test_plot_writes_png_and_svg(tmp_path: Path) -> None:
    js = [J(f"s{i}", [i % 6, (i + 1) % 6, 3, 2]) for i in range(12)]
    rs = [R(f"s{i}", [i % 6, i % 6, 3, 3]) for i in range(12)]
    res = compare({"a": js, "b": list(reversed(js))}, rs, n_boot=30)
    png, svg = plot_agreement(res, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "<svg" in svg.read_text()[:500]


# -- ratings files ---------------------------------------------------------------------------
def test_ratings_read_from_csv_jsonl_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"sample_id": "a", "turn": 0, "annotator": "x", "tcc": 1, "icc": 2, "iq": 3, "its": 4}]
    (tmp_path / "r.csv").write_text("sample_id,turn,annotator,tcc,icc,iq,its\na,0,x,1,2,3,4\n")
    (tmp_path / "r.jsonl").write_text(json.dumps(rows[0]) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "r.parquet")
    for name in ("r.csv", "r.jsonl", "r.parquet"):
        [r] = load_ratings(tmp_path / name)
        assert (r.sample_id, r.turn, r.annotator, r.scores()) == (
            "a",
            0,
            "x",
            {"tcc": 1, "icc": 2, "iq": 3, "its": 4},
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample_id,turn,annotator,tcc,icc,iq,its\n", "empty"),
        (
            "sample_id,turn,annotator,tcc,icc,iq,its\na,0,x,1,2,3,7\n",
            "line 2: sample 'a' turn 0: its",
        ),
        (
            "sample_id,turn,annotator,tcc,icc,iq,its\na,0,x,1,2,3.5,4\n",
            "line 2: sample 'a' turn 0: iq",
        ),
        (
            "sample_id,turn,annotator,tcc,icc,iq,its\na,0,x,1,2,3,4\nb,0,x,1,2,3,4\na,0,x,1,1,1,1\n",
            "line 4: duplicate rating of sample 'a' turn 0 by 'x' \\(first on line 2\\)",
        ),
        ("sample_id,turn,annotator,tcc,icc,iq\na,0,x,1,2,3\n", "its"),
    ],
)
def test_bad_ratings_name_the_item(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "r.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=message):
        load_ratings(p)


def test_bootstrap_table_equals_the_libraries_on_the_resampled_pairs() -> None:
    from intersyn.judge.agreement import Pairs, table_metrics

    rng = np.random.default_rng(11)
    js = [J(f"s{i}", list(rng.integers(0, 6, 4))) for i in range(30)]
    rs = [
        R(f"s{i}", list(rng.integers(0, 6, 4)), annotator=a) for i in range(30) for a in ("x", "y")
    ]
    pairs = Pairs(js, rs)
    counts = np.bincount(rng.integers(0, 30, 30), minlength=30)
    for dim in ("iq", None):
        j, h = pairs.select(dim)
        reps = counts[pairs.cluster] if dim else np.repeat(counts[pairs.cluster], 4)
        want = point_metrics(np.repeat(j, reps), np.repeat(h, reps))
        got = table_metrics(pairs.table(dim, counts))
        for k, v in want.items():
            assert got[k] == pytest.approx(v), (dim, k)


def test_summary_does_not_depend_on_judgement_order() -> None:
    import random

    from intersyn.judge.summary import summarize
    from intersyn.schema import Judgement

    rng = random.Random(3)
    js = [
        Judgement(
            sample_id=f"s{i:03d}",
            turn=0,
            judge_model="m",
            rubric_version="v1",
            **{d: rng.randint(0, 5) for d in ("tcc", "icc", "iq", "its")},
        )
        for i in range(40)
    ]
    shuffled = js[:]
    rng.shuffle(shuffled)
    a, b = summarize(js, n_boot=200), summarize(shuffled, n_boot=200)
    assert a["dimensions"] == b["dimensions"] and a["overall"] == b["overall"]
