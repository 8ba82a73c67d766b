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
from intersyn.judge.agreement import (
    METRICS,
    compare,
    fast_metrics,
    inter_annotator,
    point_metrics,
)
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
        (
            "sample_id,turn,annotator,tcc,icc,iq\na,0,x,1,2,3\n",
            r"line 2: missing column\(s\) its \(found: annotator, icc, iq, sample_id, tcc, turn\)",
        ),
        ("turn,tcc,icc,iq,its\n0,1,2,3,4\n", r"missing column\(s\) sample_id"),
        ("sample_id,tcc,icc,iq,its\n,1,2,3,4\n", "line 2: empty sample_id"),
        ("sample_id,turn,tcc,icc,iq,its\na,x,1,2,3,4\n", "turn: .*turn is a whole number"),
        ("sample_id,turn,tcc,icc,iq,its\na,0,1,2,-1,4\n", "line 2: sample 'a' turn 0: iq"),
    ],
)
def test_bad_ratings_name_the_item(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "r.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=message):
        load_ratings(p)


def test_ratings_from_a_spreadsheet_csv(tmp_path: Path) -> None:
    """A byte-order mark, spaces around cells and empty turn / annotator cells (defaults) are
    how spreadsheets save CSV: read as meant. A file that is not UTF-8 is a clear error."""
    p = tmp_path / "r.csv"
    p.write_bytes(
        b"\xef\xbb\xbfsample_id, turn, annotator, tcc, icc, iq, its\r\n"
        b" a , 1 , x , 1, 2, 3, 4\r\nb,,,5,5,5,5\r\n"
    )
    a, b = load_ratings(p)
    assert (a.sample_id, a.turn, a.annotator, a.scores()) == (
        "a",
        1,
        "x",
        {"tcc": 1, "icc": 2, "iq": 3, "its": 4},
    )
    assert (b.sample_id, b.turn, b.annotator) == ("b", 0, "human")
    p.write_bytes(b"sample_id,annotator,tcc,icc,iq,its\na,Jos\xe9,1,2,3,4\n")
    with pytest.raises(InputError, match=r"not UTF-8 text.*save the file as UTF-8"):
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


# -- every number of `intersyn agree`, checked against the libraries and by hand --------------
@pytest.mark.parametrize(
    ("judge", "human", "want"),
    [
        # Worked by hand: diffs 0,-1,1,0; both centred on 1.5 with sum of squares 5 and
        # co-deviation 4 (Pearson = Spearman = 0.8); 5 concordant, 1 discordant pair of 6
        # (tau = 4/6); QWK = 1 - 2 / (40 / 4) with 4 levels used once each on both sides.
        (
            [0, 1, 2, 3],
            [0, 2, 1, 3],
            {
                "rmse": 0.5**0.5,
                "mae": 0.5,
                "exact": 0.5,
                "a1": 1.0,
                "pearson": 0.8,
                "spearman": 0.8,
                "kendall": 4 / 6,
                "qwk": 0.8,
            },
        ),
        # With ties: tau-b = (1 - 0) / sqrt((3 - 1)(3 - 1)); mid-ranks [1.5,1.5,3] vs
        # [1,2.5,2.5]; QWK = 1 - (1/3) / (2/3*2/3 + 1/3*1/3).
        (
            [1, 1, 2],
            [1, 2, 2],
            {
                "rmse": (1 / 3) ** 0.5,
                "mae": 1 / 3,
                "exact": 2 / 3,
                "a1": 1.0,
                "pearson": 0.5,
                "spearman": 0.5,
                "kendall": 0.5,
                "qwk": 0.4,
            },
        ),
    ],
)
def test_metrics_equal_cases_computed_by_hand(
    judge: list[int], human: list[int], want: dict[str, float]
) -> None:
    j, h = np.array(judge), np.array(human)
    for got in (point_metrics(j, h), fast_metrics(j, h)):
        assert got == pytest.approx(want)


def test_krippendorff_alpha_equals_a_case_computed_by_hand() -> None:
    # Two annotators, three turns: (1,1), (2,2), (3,4); values 1,1,2,2,3,4 (n = 6).
    # Interval: D_o = 2*1^2/6, D_e = 82/30 -> alpha = 1 - 10/82.
    # Ordinal (n_1 = n_2 = 2, n_3 = n_4 = 1): delta(3,4) = (1+1) - 1 = 1, D_o = 2/6;
    # squared deltas 4, 12.25, 20.25, 2.25, 6.25, 1 over the value pairs -> D_e = 198/30.
    ratings = [
        R(f"s{i}", [v] * 4, annotator=a)
        for a, vals in (("x", [1, 2, 3]), ("y", [1, 2, 4]))
        for i, v in enumerate(vals)
    ]
    res = inter_annotator(ratings)
    for d in DIMS:
        assert res["alpha_interval"][d] == pytest.approx(1 - 10 / 82)
        assert res["alpha_ordinal"][d] == pytest.approx(1 - (2 / 6) / (198 / 30))
    [pair] = res["pairwise"]
    assert pair["n"] == 3 and pair["tcc"] == {"a1": 1.0, "exact": pytest.approx(2 / 3)}


def _library_metrics(j: np.ndarray, h: np.ndarray) -> dict[str, float | None]:
    """The eight metrics straight from numpy / scipy / scikit-learn (None when undefined)."""
    import warnings

    def finite(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        constant = np.ptp(j) == 0 or np.ptp(h) == 0
        return {
            "rmse": float(np.sqrt(np.mean((j - h) ** 2))),
            "mae": float(np.mean(np.abs(j - h))),
            "exact": float(np.mean(j == h)),
            "a1": float(np.mean(np.abs(j - h) <= 1)),
            "pearson": None if constant else finite(stats.pearsonr(j, h)[0]),
            "spearman": None if constant else finite(stats.spearmanr(j, h)[0]),
            "kendall": None if constant else finite(stats.kendalltau(j, h)[0]),
            "qwk": finite(cohen_kappa_score(j, h, weights="quadratic", labels=list(range(6)))),
        }


def _reference_cis(
    judge: np.ndarray, human: np.ndarray, cluster: np.ndarray, *, n_boot: int, seed: int
) -> dict[str, list[float] | None]:
    """Percentile bootstrap over turns, each resample's metrics from the libraries."""
    n = int(cluster.max()) + 1
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        reps = counts[cluster]
        for m, v in _library_metrics(np.repeat(judge, reps), np.repeat(human, reps)).items():
            if v is not None:
                draws[m].append(v)
    return {
        m: list(np.quantile(v, [0.025, 0.975])) if len(v) >= max(10, n_boot // 2) else None
        for m, v in draws.items()
    }


def test_every_number_of_agree_equals_the_libraries(tmp_path: Path) -> None:
    """`intersyn agree` end to end: each metric of each dimension and overall, its 95% CI,
    the counts, Krippendorff's alpha and the pairwise A@1 in agreement.json, recomputed here
    from scipy / scikit-learn / krippendorff on pairs built independently of the code."""
    from click.testing import CliRunner

    from intersyn.cli import cli
    from intersyn.judge.store import JudgementStore, SetInfo

    rng = np.random.default_rng(21)
    truth = {(f"s{i:02d}", i % 2): rng.integers(0, 6, 4) for i in range(24)}
    store = JudgementStore(tmp_path / "judged", SetInfo("judge-x", "synjudge@1", "vision"))
    judged: dict[tuple[str, int], Judgement] = {}
    for k, ((sid, turn), base) in enumerate(truth.items()):
        scores = (
            None if k in (3, 11) else [int(np.clip(b + rng.integers(-2, 3), 0, 5)) for b in base]
        )
        judged[(sid, turn)] = J(sid, scores, turn=turn)
        store.append(judged[(sid, turn)])
    store.close()
    lines = ["sample_id,turn,annotator,tcc,icc,iq,its"]
    ratings: list[tuple[str, int, str, list[int]]] = []
    for (sid, turn), base in truth.items():
        for a in ("ann1", "ann2", "ann3"):
            if a == "ann3" and int(sid[1:]) % 3 == 0:
                continue  # ann3 rated only some turns
            s = [int(np.clip(b + rng.integers(-1, 2), 0, 5)) for b in base]
            ratings.append((sid, turn, a, s))
    ratings.append(("s99", 0, "ann1", [1, 1, 1, 1]))  # judged by no judge
    lines += [f"{sid},{turn},{a}," + ",".join(map(str, s)) for sid, turn, a, s in ratings]
    (tmp_path / "h.csv").write_text("\n".join(lines) + "\n")
    n_boot, seed = 150, 3
    res = CliRunner().invoke(
        cli,
        [
            "agree",
            "--judge",
            str(tmp_path / "judged"),
            "--human",
            str(tmp_path / "h.csv"),
            "--out",
            str(tmp_path / "agree"),
            "--n-boot",
            str(n_boot),
            "--seed",
            str(seed),
        ],
    )
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "agree" / "agreement.json").read_text())
    a = got["judges"]["judge-x"]

    # Pairs built here: one per rating of a turn judged ok; clusters = turns in rating order.
    pj, ph, cl, order = [], [], [], {}
    for sid, turn, _, s in ratings:
        j = judged.get((sid, turn))
        if j is None or j.status != "ok":
            continue
        cl.append(order.setdefault((sid, turn), len(order)))
        pj.append([getattr(j, d) for d in DIMS])
        ph.append(s)
    pj_a, ph_a, cl_a = np.array(pj), np.array(ph), np.array(cl)
    assert (a["n_items"], a["n_pairs"], a["n_not_scored"]) == (len(order), len(pj), 2)
    assert a["n_unmatched_ratings"] == 1 and got["unmatched"] == [{"sample_id": "s99", "turn": 0}]
    assert got["n_ratings"] == len(ratings) and got["annotators"] == ["ann1", "ann2", "ann3"]
    groups = [(d, a["dimensions"][d], pj_a[:, k], ph_a[:, k], cl_a) for k, d in enumerate(DIMS)]
    groups.append(("overall", a["overall"], pj_a.ravel(), ph_a.ravel(), np.repeat(cl_a, 4)))
    for k, (name, block, j, h, c) in enumerate(groups):
        want = _library_metrics(j.astype(float), h.astype(float))
        cis = _reference_cis(j, h, c, n_boot=n_boot, seed=seed + k)
        for m in METRICS:
            assert block[m]["value"] == pytest.approx(want[m]), (name, m)
            assert block[m]["ci95"] == pytest.approx(cis[m]), (name, m, "ci95")
            assert block[m]["ci95"][0] <= block[m]["value"] <= block[m]["ci95"][1], (name, m)

    # Between annotators: alpha from the krippendorff package, pairwise A@1 / exact by hand.
    items = sorted({(sid, turn) for sid, turn, _, _ in ratings})
    anns = ["ann1", "ann2", "ann3"]
    by = {(a_, sid, turn): s for sid, turn, a_, s in ratings}
    ia = got["inter_annotator"]
    assert ia["n_items_multiply_rated"] == len(truth)
    for k, d in enumerate(DIMS):
        m = np.array([[by.get((x, *it), [np.nan] * 4)[k] for it in items] for x in anns], float)
        for level in ("interval", "ordinal"):
            assert ia[f"alpha_{level}"][d] == pytest.approx(
                krippendorff.alpha(
                    reliability_data=m, level_of_measurement=level, value_domain=list(range(6))
                )
            ), (d, level)
    for p in ia["pairwise"]:
        common = [it for it in items if (p["a"], *it) in by and (p["b"], *it) in by]
        assert p["n"] == len(common)
        for k, d in enumerate(DIMS):
            diff = np.array([by[(p["a"], *it)][k] - by[(p["b"], *it)][k] for it in common])
            assert p[d]["a1"] == pytest.approx(np.mean(np.abs(diff) <= 1))
            assert p[d]["exact"] == pytest.approx(np.mean(diff == 0))


def test_bootstrap_cis_agree_with_scipy_bootstrap() -> None:
    """The seeded percentile bootstrap gives the interval scipy.stats.bootstrap gives (up to
    resampling noise): the summary's CI of a mean, and agreement's CI of MAE over turns."""
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 6, (300, 4))
    js = [J(f"s{i:03d}", list(map(int, row))) for i, row in enumerate(scores)]
    s = summarize(js, n_boot=4000, seed=1)
    ref = stats.bootstrap(
        (scores[:, 2].astype(float),),
        np.mean,
        n_resamples=4000,
        method="percentile",
        random_state=2,
    ).confidence_interval
    assert s["dimensions"]["iq"]["ci95"] == pytest.approx([ref.low, ref.high], abs=0.03)

    human = np.clip(scores + rng.integers(-2, 3, scores.shape), 0, 5)
    rs = [R(f"s{i:03d}", list(map(int, row))) for i, row in enumerate(human)]
    a = compare({"j": js}, rs, n_boot=2000, seed=1)["judges"]["j"]
    ref = stats.bootstrap(
        (scores[:, 0].astype(float), human[:, 0].astype(float)),
        lambda x, y: np.mean(np.abs(x - y)),
        paired=True,
        n_resamples=4000,
        method="percentile",
        random_state=2,
    ).confidence_interval
    assert a["dimensions"]["tcc"]["mae"]["ci95"] == pytest.approx([ref.low, ref.high], abs=0.03)


def test_instability_leaves_out_dimensions_set_by_a_hard_rule() -> None:
    """A dimension forced to 0 in code was not scored by the judge: it neither lowers the
    judge's mean per-turn std nor its share of varying turns. The least stable turns are
    listed with their per-dimension mean and std."""
    d = lambda tcc, icc, iq, its: {"tcc": tcc, "icc": icc, "iq": iq, "its": its}  # noqa: E731
    js = [
        J("a", [3, 3, 3, 3], draws=[d(2, 3, 3, 3), d(4, 3, 3, 3)]),
        J(
            "noimg",
            [3, 0, 0, 0],
            draws=[d(3, 0, 0, 0), d(3, 0, 0, 0)],
            forced=["no image (image file 'x.png' not found: gone): icc=iq=its=0"],
        ),
        J(
            "notext",
            [0, 2, 4, 0],
            draws=[d(0, 1, 4, 0), d(0, 3, 4, 0)],
            forced=["no text: tcc=its=0"],
        ),
        J("once", [1, 1, 1, 1]),  # judged once: not part of the instability
    ]
    inst = summarize(js, n_boot=20)["instability"]
    assert inst["n_items"] == 3 and inst["draws"] == {"2": 3}
    # tcc: turns a (std 1) and noimg (0); notext's tcc was forced -> mean 0.5 over 2 turns
    assert inst["tcc"] == {"mean_std": 0.5, "share_varying": 0.5, "n_items": 2}
    # icc: a (0) and notext (1); noimg forced
    assert inst["icc"] == {"mean_std": 0.5, "share_varying": 0.5, "n_items": 2}
    assert inst["iq"] == {"mean_std": 0.0, "share_varying": 0.0, "n_items": 2}
    assert inst["its"] == {"mean_std": 0.0, "share_varying": 0.0, "n_items": 1}
    assert inst["share_any_varying"] == pytest.approx(2 / 3)
    assert inst["mean_std"] == pytest.approx(0.25)
    top = inst["least_stable"]
    assert [(r["sample_id"], r["n_draws"]) for r in top] == [("a", 2), ("notext", 2)]
    assert top[0]["tcc_mean"] == 3.0 and top[0]["tcc_std"] == 1.0 and top[0]["icc_std"] == 0.0
    assert top[1]["icc_mean"] == 2.0 and top[1]["icc_std"] == 1.0


def test_forced_dims_read_back_from_the_runners_rules() -> None:
    from intersyn.judge.summary import forced_dims

    j = J(
        "x",
        [0, 0, 0, 0],
        forced=["no text: tcc=its=0", "no image (path 'a: b.png' refused): icc=iq=its=0"],
    )
    assert forced_dims(j) == set(DIMS)
    assert forced_dims(J("y", [1, 1, 1, 1])) == set()


def test_no_resamples_means_no_intervals_not_an_error() -> None:
    js = [J(f"s{i}", [i % 6, 2, 3, 4]) for i in range(10)]
    rs = [R(f"s{i}", [(i + 1) % 6, 2, 3, 3]) for i in range(10)]
    s = summarize(js, n_boot=0)
    assert s["dimensions"]["tcc"]["ci95"] is None and s["overall"]["ci95"] is None
    assert s["dimensions"]["tcc"]["mean"] == pytest.approx(21 / 10)  # 0..5, 0..3
    a = compare({"j": js}, rs, n_boot=0)["judges"]["j"]
    assert a["dimensions"]["its"]["exact"] == {"value": 0.0, "ci95": None}
