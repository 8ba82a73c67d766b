"""Issue 11, smaller items of the rating app: a cross-origin ``POST /logout`` is refused, a
form score ``"1\\n"`` is not 1, and ``annotate links`` prints links for the port the server
really runs on."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from intersyn.annotate.app import SubmissionError, create_app, parse_submission
from intersyn.cli import cli
from tests.test_annotate_app import GOOD, ORIGIN, csrf_of, signed_in
from tests.test_annotate_support import make_db, make_run


def test_cross_origin_logout_is_refused(tmp_path: Path) -> None:
    db, links = make_db(tmp_path, samples=1, turns=1)
    client = signed_in(create_app(db.path, allowed_hosts=["testserver"]), links.tokens["alice"])
    for evil in ({"origin": "http://evil.example"}, {"referer": "http://evil.example/page"}):
        r = client.post("/logout", headers=evil, follow_redirects=False)
        assert r.status_code == 403 and "another site" in r.text
        assert client.get("/rate/1").status_code == 200  # still signed in
    r = client.post("/logout", headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303 and "intersyn_annotate=" in r.headers["set-cookie"]


@pytest.mark.parametrize("value", ["1\n", " 1", "1 ", "01", "１"])
def test_form_scores_must_be_exactly_one_digit(value: str) -> None:
    with pytest.raises(SubmissionError, match="must be an integer 0-5"):
        parse_submission({**GOOD, "tcc": value}, json_body=False)


def test_a_newline_score_posted_by_the_form_is_refused(tmp_path: Path) -> None:
    db, links = make_db(tmp_path, samples=1, turns=1)
    client = signed_in(create_app(db.path, allowed_hosts=["testserver"]), links.tokens["alice"])
    csrf = csrf_of(client.get("/rate/1").text)
    r = client.post("/rate/1", data={**GOOD, "tcc": "1\n", "csrf": csrf}, headers=ORIGIN)
    assert r.status_code == 422 and "must be an integer 0-5" in r.text and db.ratings() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_links_use_the_port_the_server_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    run = make_run(tmp_path / "run", 1, 1)
    db, port = tmp_path / "r.sqlite", _free_port()
    args = ["annotate", "serve", str(run), "--db", str(db), "--annotators", "alice"]
    result = CliRunner().invoke(cli, [*args, "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert served and served[0]["port"] == port
    result = CliRunner().invoke(cli, ["annotate", "links", "--db", str(db), "--annotator", "alice"])
    assert result.exit_code == 0, result.output
    urls = re.findall(r"http://\S+", result.output)
    assert urls and all(u.startswith(f"http://127.0.0.1:{port}/") for u in urls), urls
    result = CliRunner().invoke(
        cli, ["annotate", "links", "--db", str(db), "--base-url", "https://rate.example.org"]
    )
    assert "https://rate.example.org/" in result.output
