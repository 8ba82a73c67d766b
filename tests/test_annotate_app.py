"""The rating app over HTTP (Starlette TestClient): sign-in, rating flow, and security —
tokens on every page, CSRF and Origin checks, annotators isolated from each other, escaped
model text, clear 4xx answers to bad requests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from intersyn.annotate.app import SubmissionError, create_app, parse_submission
from intersyn.annotate.db import AnnotationDB
from intersyn.annotate.prepare import Links
from tests.test_annotate_support import HOSTILE, make_db

ORIGIN = {"origin": "http://testserver"}
GOOD = {"action": "rate", "tcc": "4", "icc": "3", "iq": "5", "its": "2"}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[AnnotationDB, Links, Any]:
    db, links = make_db(tmp_path, samples=3, turns=2)
    app = create_app(db.path, allowed_hosts=["testserver"])
    return db, links, app


def signed_in(app: Any, token: str) -> TestClient:
    client = TestClient(app)
    r = client.get("/login", params={"t": token})
    assert r.status_code == 200
    return client


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "the rating form carries a CSRF token"
    return m.group(1)


def test_sign_in_sets_a_strict_httponly_cookie_and_resumes(setup: Any) -> None:
    _, links, app = setup
    client = TestClient(app)
    r = client.get("/login", params={"t": links.tokens["alice"]})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert r.headers["referrer-policy"] == "no-referrer"
    assert 'url=/rate"' in r.text
    r = client.get("/rate", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/rate/1")


def test_rating_page_shows_item_rubric_and_escapes_model_text(setup: Any) -> None:
    _, links, app = setup
    client = signed_in(app, links.tokens["alice"])
    html = client.get("/rate/1").text
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Question 0 of s000" in html
    assert 'src="/image/1/0"' in html
    for name in ("Text Content Completeness", "Image Content Completeness", "Image Quality"):
        assert name in html
    assert 'name="its" value="5"' in html
    # the second turn shows the first as context, with its image
    html2 = client.get("/rate/2").text
    assert "Earlier turns" in html2 and 'src="/image/2/0"' in html2 and 'src="/image/2/1"' in html2
    r = client.get("/rate/1")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_form_submit_stores_rating_and_moves_to_next(setup: Any) -> None:
    db, links, app = setup
    client = signed_in(app, links.tokens["alice"])
    csrf = csrf_of(client.get("/rate/1").text)
    r = client.post("/rate/1", data={**GOOD, "csrf": csrf}, headers=ORIGIN, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/rate/2")
    [rating] = db.ratings()
    assert (rating.annotator, rating.sample_id, rating.turn) == ("alice", "s000", 0)
    assert rating.scores() == {"tcc": 4, "icc": 3, "iq": 5, "its": 2}
    # the page shows the annotator's own rating back when they return
    html = client.get("/rate/1").text
    assert re.search(r'name="iq" value="5"[^>]* checked', html)
    assert "You rated this item" in html


def test_skip_flag_and_done_page(setup: Any) -> None:
    db, links, app = setup
    client = signed_in(app, links.tokens["bob"])
    csrf = csrf_of(client.get("/rate/1").text)
    size = db.queue_size("bob")
    for pos in range(1, size + 1):
        data = {"csrf": csrf, "action": "skip"}
        if pos == 1:
            data |= {"flag": "on", "comment": "the image is <b>broken</b>"}
        r = client.post(f"/rate/{pos}", data=data, headers=ORIGIN, follow_redirects=False)
        assert r.status_code == 303
    assert r.headers["location"] == "/done"
    done = client.get("/done").text
    assert "All done" in done
    assert db.flags()[0]["comment"] == "the image is <b>broken</b>"
    admin = signed_in(app, links.admin or "")
    page = admin.get("/admin").text
    assert "the image is &lt;b&gt;broken&lt;/b&gt;" in page


def test_every_page_and_api_needs_a_token(setup: Any) -> None:
    _, _, app = setup
    client = TestClient(app)
    for path in (
        "/",
        "/rate",
        "/rate/1",
        "/image/1/0",
        "/done",
        "/admin",
        "/api/me",
        "/api/items/1",
        "/admin/export.jsonl",
        "/api/admin/status",
        "/api/queue",
    ):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 401, path
    r = client.post("/rate/1", data=GOOD, headers=ORIGIN)
    assert r.status_code == 401
    r = client.post("/api/items/1", json={"tcc": 1}, headers={"authorization": "Bearer nope"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]
    r = client.get("/login", params={"t": "forged"})
    assert r.status_code == 403 and "set-cookie" not in r.headers
    client.cookies.set("intersyn_annotate", "forged")
    assert client.get("/rate/1").status_code == 401


def test_csrf_token_and_origin_are_checked_on_cookie_posts(setup: Any) -> None:
    db, links, app = setup
    client = signed_in(app, links.tokens["alice"])
    csrf = csrf_of(client.get("/rate/1").text)
    r = client.post("/rate/1", data=GOOD, headers=ORIGIN)
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/rate/1", data={**GOOD, "csrf": "0" * 40}, headers=ORIGIN)
    assert r.status_code == 403
    evil = {"origin": "http://evil.example"}
    r = client.post("/rate/1", data={**GOOD, "csrf": csrf}, headers=evil)
    assert r.status_code == 403 and "another site" in r.text
    r = client.post(
        "/rate/1", data={**GOOD, "csrf": csrf}, headers={"referer": "http://evil.example/x"}
    )
    assert r.status_code == 403
    r = client.post(
        "/api/items/1",
        json={"action": "rate", **{k: 1 for k in ["tcc", "icc", "iq", "its"]}},
        headers=ORIGIN,
    )
    assert r.status_code == 403  # cookie auth on the API needs the X-CSRF-Token header
    # bob's CSRF token does not work for alice
    bob = signed_in(app, links.tokens["bob"])
    bob_csrf = csrf_of(bob.get("/rate/1").text)
    assert (
        client.post("/rate/1", data={**GOOD, "csrf": bob_csrf}, headers=ORIGIN).status_code == 403
    )
    assert db.ratings() == []
    ok = client.post(
        "/api/items/1", json={"action": "skip"}, headers={**ORIGIN, "x-csrf-token": csrf}
    )
    assert ok.status_code == 200


def test_dns_rebinding_host_is_refused(setup: Any) -> None:
    _, links, app = setup
    client = TestClient(app, base_url="http://evil.example")
    assert client.get("/login", params={"t": links.tokens["alice"]}).status_code == 400


def test_annotators_cannot_read_or_change_each_others_ratings(setup: Any) -> None:
    db, links, app = setup
    alice = TestClient(app, headers={"authorization": f"Bearer {links.tokens['alice']}"})
    bob = TestClient(app, headers={"authorization": f"Bearer {links.tokens['bob']}"})
    # with overlap 2 and two annotators both rate every item, at the same positions
    r = alice.post(
        "/api/items/1",
        json={"action": "rate", "tcc": 5, "icc": 5, "iq": 5, "its": 5, "comment": "alice secret"},
    )
    assert r.status_code == 200, r.text
    seen = bob.get("/api/items/1").json()
    assert seen["item"]["sample_id"] == "s000" and seen["rating"] is None
    assert "alice secret" not in bob.get("/rate/1").text
    assert 'value="5" checked' not in bob.get("/rate/1").text
    bob.post("/api/items/1", json={"action": "rate", "tcc": 0, "icc": 0, "iq": 0, "its": 0})
    mine = alice.get("/api/items/1").json()["rating"]
    assert mine["scores"] == {"tcc": 5, "icc": 5, "iq": 5, "its": 5}
    assert mine["comment"] == "alice secret"
    by = {(r.annotator): r.scores() for r in db.ratings()}
    assert by == {
        "alice": {d: 5 for d in ["tcc", "icc", "iq", "its"]},
        "bob": {d: 0 for d in ["tcc", "icc", "iq", "its"]},
    }
    # annotators are not admins
    assert bob.get("/admin").status_code == 403
    assert bob.get("/admin/export.jsonl").status_code == 403
    assert bob.get("/api/admin/status").status_code == 403
    # and the admin does not rate
    admin = TestClient(app, headers={"authorization": f"Bearer {links.admin}"})
    assert admin.get("/rate/1").status_code == 403


def test_positions_outside_the_own_queue_are_404(tmp_path: Path) -> None:
    db, links = make_db(tmp_path, samples=4, turns=1, annotators=("a", "b"), overlap=1)
    app = create_app(db.path, allowed_hosts=["testserver"])
    a = TestClient(app, headers={"authorization": f"Bearer {links.tokens['a']}"})
    size = db.queue_size("a")
    assert size == 2
    assert a.get(f"/rate/{size + 1}").status_code == 404
    assert a.get(f"/api/items/{size + 1}").json()["error"].startswith("There is no item")
    assert a.post(f"/api/items/{size + 1}", json={"action": "skip"}).status_code == 404
    assert a.get("/rate/99999999999999999999999999").status_code == 404
    assert a.get("/rate/-1").status_code == 404
    assert a.get("/rate/abc").status_code == 404
    # images: only the item's own turn and earlier ones, nothing else
    assert a.get("/image/1/0").status_code == 200
    assert a.get("/image/1/1").status_code == 404
    assert a.get("/image/9/0").status_code == 404
    assert a.get("/image/1/..%2f..%2fetc%2fpasswd").status_code == 404
    assert a.get("/static/../../db.py").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"action": "rate", "tcc": 6, "icc": 1, "iq": 1, "its": 1},
            422,
            "TCC must be an integer 0-5",
        ),
        ({"action": "rate", "tcc": -1, "icc": 1, "iq": 1, "its": 1}, 422, "TCC must be"),
        ({"action": "rate", "tcc": 3.5, "icc": 1, "iq": 1, "its": 1}, 422, "TCC must be"),
        ({"action": "rate", "tcc": True, "icc": 1, "iq": 1, "its": 1}, 422, "TCC must be"),
        ({"action": "rate", "tcc": "3", "icc": 1, "iq": 1, "its": 1}, 422, "TCC must be"),
        ({"action": "rate", "tcc": 3, "icc": 1, "iq": 1}, 422, "ITS is missing"),
        ({"action": "rate", "tcc": 3}, 422, "ICC, IQ, ITS are missing"),
        ({"action": "delete"}, 422, "action must be"),
        ({"action": "skip", "flag": True}, 422, "a flag needs a comment"),
        ({"action": "skip", "flag": "yes", "comment": "x"}, 422, "flag must be true or false"),
        ({"action": "skip", "comment": 5}, 422, "comment must be text"),
        ({"action": "skip", "comment": "x" * 2001}, 422, "at most 2000"),
        ([1, 2, 3], 400, "must be a JSON object"),
    ],
)
def test_bad_json_submits_are_clear_4xx(setup: Any, body: Any, status: int, message: str) -> None:
    db, links, app = setup
    client = TestClient(app, headers={"authorization": f"Bearer {links.tokens['alice']}"})
    r = client.post("/api/items/1", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert db.ratings() == [] and list(db.history()) == []


def test_malformed_bodies_are_4xx_never_500(setup: Any) -> None:
    db, links, app = setup
    client = TestClient(app, headers={"authorization": f"Bearer {links.tokens['alice']}"})
    r = client.post(
        "/api/items/1", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post(
        "/api/items/1", content=b"\xff\xfe", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = client.post("/api/items/1", content=b"x" * 100_000)
    assert r.status_code == 413
    r = client.post(
        "/rate/1",
        content=b"--b\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert 400 <= r.status_code < 500
    r = client.post("/rate/1", files={"tcc": ("f.txt", b"4")}, data={"action": "rate"})
    assert 400 <= r.status_code < 500
    r = client.put("/rate/1")
    assert r.status_code == 405
    r = client.get("/admin/export.csv", headers={"authorization": f"Bearer {links.admin}"})
    assert r.status_code == 404
    assert db.ratings() == []


def test_error_pages_say_what_went_wrong_in_words(setup: Any) -> None:
    _, links, app = setup
    r = TestClient(app).get("/rate/1")
    assert r.status_code == 401
    assert "<h1>Not signed in" in r.text and "open your personal link" in r.text
    client = signed_in(app, links.tokens["alice"])
    r = client.get("/rate/99")
    assert r.status_code == 404
    assert "<h1>Not found" in r.text and "no item 99 in your queue (1-6)" in r.text
    r = client.put("/rate/1")
    assert r.status_code == 405 and "<h1>Method Not Allowed" in r.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tcc", "7", "TCC must be an integer 0-5, got &#39;7&#39;"),
        ("iq", "", "IQ is missing"),
        ("its", "2.0", "ITS must be an integer 0-5"),
    ],
)
def test_bad_form_submit_rerenders_the_page_with_the_error(
    setup: Any, field: str, value: str, message: str
) -> None:
    db, links, app = setup
    client = signed_in(app, links.tokens["alice"])
    csrf = csrf_of(client.get("/rate/1").text)
    r = client.post("/rate/1", data={**GOOD, field: value, "csrf": csrf}, headers=ORIGIN)
    assert r.status_code == 422
    assert message in r.text
    assert re.search(r'name="icc" value="3"[^>]* checked', r.text)  # what was entered is kept
    assert db.ratings() == []


def test_admin_page_progress_alpha_and_export(setup: Any) -> None:
    db, links, app = setup
    for name, base in (("alice", 0), ("bob", 1)):
        c = TestClient(app, headers={"authorization": f"Bearer {links.tokens[name]}"})
        for pos in range(1, 7):
            v = (pos + base * (pos % 2)) % 6
            r = c.post(
                f"/api/items/{pos}", json={"action": "rate", "tcc": v, "icc": v, "iq": v, "its": v}
            )
            assert r.status_code == 200
    admin = signed_in(app, links.admin or "")
    status = admin.get("/api/admin/status").json()
    assert [p["rated"] for p in status["progress"]] == [6, 6]
    assert status["agreement"]["items"] == 6
    alpha = status["agreement"]["alpha"]["tcc"]
    assert alpha is not None and -1 <= alpha < 1
    page = admin.get("/admin").text
    assert 'data-annotator="alice"' in page and f"{alpha:.3f}" in page
    assert "6 items · each rated by 2 annotators · 12 ratings so far" in page
    assert "over 6 items rated by two or more" in page and "not yet meaningful" in page
    assert f"annotate export --db {db.path} --out" in page  # the real path, ready to paste
    export = admin.get("/admin/export.jsonl")
    assert export.status_code == 200 and len(export.text.splitlines()) == 12
    assert "attachment" in export.headers["content-disposition"]


def test_parse_submission_form_values() -> None:
    sub = parse_submission(
        {
            "action": "rate",
            "tcc": "0",
            "icc": "5",
            "iq": "1",
            "its": "2",
            "comment": "  ",
            "flag": "",
        },
        json_body=False,
    )
    assert sub.scores == {"tcc": 0, "icc": 5, "iq": 1, "its": 2} and sub.comment is None
    assert not sub.flagged
    with pytest.raises(SubmissionError):
        parse_submission(
            {"action": "rate", "tcc": "05", "icc": "5", "iq": "1", "its": "2"}, json_body=False
        )


def test_a_custom_rubric_file_is_what_annotators_see(tmp_path: Path) -> None:
    from intersyn.judge.rubric import default_rubric_path

    text = default_rubric_path().read_text(encoding="utf-8")
    custom = tmp_path / "my-rubric.yaml"
    custom.write_text(
        text.replace('version: "1"', 'version: "7"').replace(
            "Text Content Completeness", "Does The Text Answer It"
        ),
        encoding="utf-8",
    )
    db, links = make_db(tmp_path)
    app = create_app(db.path, allowed_hosts=["testserver"], rubric=custom)
    page = TestClient(app, headers={"authorization": f"Bearer {links.tokens['alice']}"})
    assert "Does The Text Answer It" in page.get("/rate/1").text
    admin = TestClient(app, headers={"authorization": f"Bearer {links.admin}"})
    assert "rubric synjudge@7" in admin.get("/admin").text
