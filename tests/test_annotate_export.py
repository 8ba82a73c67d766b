"""Ratings out of the app: Parquet/JSONL in the Rating schema, flags, history, and the
`intersyn annotate` commands around them (status, links, export)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from intersyn.annotate.agreement import agreement_so_far
from intersyn.annotate.db import AnnotationDB, Submission
from intersyn.annotate.export import export_ratings
from intersyn.cli import cli
from intersyn.errors import InputError
from intersyn.schema import Rating
from tests.conftest import require
from tests.test_annotate_support import make_db

RATED = {
    ("alice", 1): {"tcc": 4, "icc": 3, "iq": 5, "its": 2},
    ("alice", 2): {"tcc": 0, "icc": 0, "iq": 1, "its": 0},
    ("bob", 1): {"tcc": 5, "icc": 3, "iq": 4, "its": 2},
}


def rated_db(tmp: Path) -> AnnotationDB:
    db, _ = make_db(tmp, samples=2, turns=2)
    for (name, pos), scores in RATED.items():
        db.submit(name, pos, Submission("rate", scores, comment=f"{name} {pos}"))
    db.submit("bob", 2, Submission("skip", None, comment="no idea", flagged=True))
    db.submit("alice", 1, Submission("rate", {**RATED[("alice", 1)], "tcc": 3}, comment="edit"))
    return db


def expected() -> dict[tuple[str, str, int], dict[str, int]]:
    out = {(n, "s000", p - 1): s for (n, p), s in RATED.items()}
    out[("alice", "s000", 0)] = {**RATED[("alice", 1)], "tcc": 3}
    return out


def test_parquet_export_is_the_rating_schema(tmp_path: Path) -> None:
    db = rated_db(tmp_path)
    out = tmp_path / "ratings.parquet"
    assert export_ratings(db, out) == 3
    table = pq.read_table(out)
    assert table.column_names == [
        "sample_id",
        "turn",
        "annotator",
        "tcc",
        "icc",
        "iq",
        "its",
        "time",
        "comment",
    ]
    ratings = [Rating.model_validate(row) for row in table.to_pylist()]
    got = {(r.annotator, r.sample_id, r.turn): r.scores() for r in ratings}
    assert got == expected()
    assert {r.comment for r in ratings} == {"edit", "alice 2", "bob 1"}
    assert all(r.time.tzinfo is not None for r in ratings)
    assert b"intersyn" in (table.schema.metadata or {})


def test_jsonl_export_matches_parquet(tmp_path: Path) -> None:
    db = rated_db(tmp_path)
    export_ratings(db, tmp_path / "r.parquet")
    export_ratings(db, tmp_path / "r.jsonl")
    from_jsonl = [
        Rating.model_validate_json(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()
    ]
    from_parquet = [
        Rating.model_validate(row) for row in pq.read_table(tmp_path / "r.parquet").to_pylist()
    ]
    assert from_jsonl == from_parquet


def test_export_reads_back_with_the_judges_ratings_loader(tmp_path: Path) -> None:
    require("intersyn.judge.ratings")
    from intersyn.judge.ratings import load_ratings

    db = rated_db(tmp_path)
    for name in ("r.parquet", "r.jsonl"):
        export_ratings(db, tmp_path / name)
        got = {
            (r.annotator, r.sample_id, r.turn): r.scores() for r in load_ratings(tmp_path / name)
        }
        assert got == expected()


def test_export_needs_a_known_format(tmp_path: Path) -> None:
    db = rated_db(tmp_path)
    with pytest.raises(InputError, match=r"\.parquet or \.jsonl"):
        export_ratings(db, tmp_path / "ratings.csv")
    assert export_ratings(db, tmp_path / "ratings.out", fmt="jsonl") == 3


def test_agreement_so_far_is_ordinal_alpha_per_dimension() -> None:
    def r(a: str, s: str, v: int) -> Rating:
        return Rating(sample_id=s, turn=0, annotator=a, tcc=v, icc=v, iq=v, its=v)

    perfect = [r("a", f"s{i}", i % 6) for i in range(6)] + [
        r("b", f"s{i}", i % 6) for i in range(6)
    ]
    got = agreement_so_far(perfect)
    assert got["items"] == 6 and got["alpha"]["tcc"] == pytest.approx(1.0)
    assert agreement_so_far([r("a", "s1", 3), r("b", "s2", 3)])["alpha"] == dict.fromkeys(
        ("tcc", "icc", "iq", "its")
    )
    assert agreement_so_far([r("a", "s1", 3), r("b", "s1", 3)])["alpha"]["tcc"] is None


# -- commands ------------------------------------------------------------------------------
def test_cli_export_with_flags_and_history(tmp_path: Path) -> None:
    db = rated_db(tmp_path)
    out, flags, hist = tmp_path / "o" / "r.parquet", tmp_path / "f.jsonl", tmp_path / "h.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "annotate",
            "export",
            "--db",
            str(db.path),
            "--out",
            str(out),
            "--flags",
            str(flags),
            "--history",
            str(hist),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 ratings written" in result.output
    assert len(pq.read_table(out)) == 3
    [flag] = [json.loads(x) for x in flags.read_text().splitlines()]
    assert (flag["sample_id"], flag["turn"], flag["annotator"], flag["comment"]) == (
        "s000",
        1,
        "bob",
        "no idea",
    )
    history = [json.loads(x) for x in hist.read_text().splitlines()]
    assert len(history) == 5 and [h["action"] for h in history].count("skip") == 1


def test_cli_status_reports_progress_and_alpha(tmp_path: Path) -> None:
    db = rated_db(tmp_path)
    result = CliRunner().invoke(cli, ["annotate", "status", "--db", str(db.path), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["items"] == 4 and status["ratings"] == 3 and status["flags"] == 1
    by = {p["annotator"]: p for p in status["progress"]}
    assert (by["alice"]["rated"], by["bob"]["rated"], by["bob"]["skipped"]) == (2, 1, 1)
    assert status["agreement"]["items"] == 1
    text = CliRunner().invoke(cli, ["annotate", "status", "--db", str(db.path)])
    assert text.exit_code == 0 and "alice" in text.output and "Krippendorff" in text.output


def test_cli_links_rotates_tokens(tmp_path: Path) -> None:
    db, old = make_db(tmp_path)
    out = tmp_path / "links.json"
    result = CliRunner().invoke(
        cli,
        [
            "annotate",
            "links",
            "--db",
            str(db.path),
            "--annotator",
            "bob",
            "--out",
            str(out),
            "--base-url",
            "http://127.0.0.1:9999",
        ],
    )
    assert result.exit_code == 0, result.output
    links = json.loads(out.read_text())
    assert set(links) == {"bob"} and links["bob"].startswith("http://127.0.0.1:9999/login?t=")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert db.principal_for_token(old.tokens["bob"]) is None
    assert db.principal_for_token(links["bob"].split("t=")[1]).name == "bob"  # type: ignore[union-attr]
    assert db.principal_for_token(old.tokens["alice"]) is not None


def test_cli_errors_are_clean_messages(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    for args in (
        ["status", "--db", str(missing)],
        ["export", "--db", str(missing), "--out", "x.parquet"],
        ["links", "--db", str(missing)],
    ):
        result = CliRunner().invoke(cli, ["annotate", *args])
        assert result.exit_code == 1, result.output
        assert "no such ratings database" in result.output and "Traceback" not in result.output
    assert not missing.exists()
    result = CliRunner().invoke(
        cli,
        ["annotate", "serve", str(tmp_path / "nope"), "--db", str(missing), "--annotators", "a"],
    )
    assert result.exit_code == 1 and "no such dataset" in result.output


def test_cli_export_to_an_unwritable_place_is_a_clean_message(tmp_path: Path) -> None:
    db = rated_db(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for extra in (
        ["--out", str(blocker / "r.parquet")],
        ["--out", str(tmp_path / "r.jsonl"), "--history", str(blocker / "h.jsonl")],
    ):
        result = CliRunner().invoke(cli, ["annotate", "export", "--db", str(db.path), *extra])
        assert result.exit_code == 1, result.output
        assert "cannot write" in result.output and "pick another path" in result.output
        assert "Traceback" not in result.output


def test_cli_serve_on_a_busy_port_says_so_before_touching_anything(tmp_path: Path) -> None:
    import socket

    from tests.test_annotate_support import make_run

    run = make_run(tmp_path / "run", 1, 1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = [str(run), "--db", str(tmp_path / "r.sqlite"), "--annotators", "a"]
        result = CliRunner().invoke(cli, ["annotate", "serve", *args, "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert not (tmp_path / "r.sqlite").exists()
