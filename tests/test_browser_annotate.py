"""Two annotators rate in a real browser (Debian chromium via Playwright) against a real
`intersyn annotate serve` (uvicorn) in a subprocess; the server is killed with SIGKILL and
restarted; every rating is intact and the export matches what was entered."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from intersyn.annotate.db import AnnotationDB
from tests.conftest import require, require_executable
from tests.test_annotate_support import make_run

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DIMS = ("tcc", "icc", "iq", "its")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`intersyn annotate serve …` in a subprocess, ready when /healthz answers."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.port = port
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intersyn", "annotate", "serve", *args, "--port", str(port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for _ in range(300):  # bounded wait for start-up, not a timing assertion
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {log.read_text()}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def rate_by_keys(page: Any, scores: dict[str, int]) -> None:
    """Digits score the highlighted dimension and move on; Enter submits."""
    for d in DIMS:
        page.keyboard.press(str(scores[d]))
    page.keyboard.press("Enter")


def rate_by_mouse(page: Any, scores: dict[str, int]) -> None:
    for d in DIMS:
        page.click(f"#dim-{d} label:has(input[value='{scores[d]}'])")
    page.click("#submit")


def test_two_annotators_rate_in_chromium_across_a_server_kill(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    require("playwright")
    chromium = require_executable("chromium")
    from playwright.sync_api import expect, sync_playwright

    run = make_run(tmp_path / "run", samples=3, turns=2)  # both annotators get all 6 turns
    db_path = tmp_path / "ratings.sqlite"
    links_file = tmp_path / "links.json"
    port = free_port()
    log = tmp_path / "server.log"
    first = [str(run), "--db", str(db_path), "--annotators", "alice,bob", "--overlap", "2"]
    server = Server([*first, "--links-out", str(links_file)], port, log)
    entered: dict[tuple[str, str, int], dict[str, int]] = {}
    key = {1: ("s000", 0), 2: ("s000", 1), 3: ("s001", 0), 4: ("s001", 1), 5: ("s002", 0)}
    try:
        links = json.loads(links_file.read_text())
        assert set(links) == {"alice", "bob", "admin"}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            alice = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            bob = browser.new_context().new_page()

            # alice: sign in from her link, lands on her first item; hostile text is inert
            alice.goto(links["alice"])
            alice.wait_for_url("**/rate/1")
            expect(alice.locator("#answer")).to_contain_text("<script>")
            expect(alice.locator("#position")).to_have_text("1")

            # keyboard: 0-5 per dimension, Enter submits
            entered[("alice", *key[1])] = {"tcc": 4, "icc": 3, "iq": 5, "its": 2}
            rate_by_keys(alice, entered[("alice", *key[1])])
            alice.wait_for_url("**/rate/2")
            expect(alice.locator("details.earlier")).to_contain_text("Question 0 of s000")

            # Enter with a dimension missing does not submit: the page says which are missing
            alice.keyboard.press("2")
            alice.keyboard.press("Enter")
            expect(alice.locator("#position")).to_have_text("2")
            expect(alice.locator("#form-status")).to_have_text(
                "Score ICC, IQ, ITS first (or s to skip)."
            )
            expect(alice.locator("#dim-icc")).to_have_class("dim active")
            alice.keyboard.press("1")
            alice.keyboard.press("0")
            alice.keyboard.press("3")
            alice.keyboard.press("Enter")
            entered[("alice", *key[2])] = {"tcc": 2, "icc": 1, "iq": 0, "its": 3}
            alice.wait_for_url("**/rate/3")

            # the image is shown enlarged, with its real size said; zoom fills the window
            expect(alice.locator("#image-size")).to_have_text("48 × 32 px")
            assert alice.locator("#image").bounding_box()["width"] >= 300  # type: ignore[index]
            alice.click("#image")
            expect(alice.locator("#zoom")).to_be_visible()
            zoomed = alice.locator("#zoom-image").bounding_box()
            assert zoomed is not None and zoomed["height"] >= 0.9 * 900
            alice.keyboard.press("Escape")
            expect(alice.locator("#zoom")).to_be_hidden()

            # mouse: click the scores, click Submit
            entered[("alice", *key[3])] = {"tcc": 5, "icc": 5, "iq": 4, "its": 4}
            rate_by_mouse(alice, entered[("alice", *key[3])])
            alice.wait_for_url("**/rate/4")

            # flag with a comment and skip, by keys: f, type, Esc, s
            alice.keyboard.press("f")
            alice.keyboard.type("no image to judge")
            alice.keyboard.press("Escape")
            alice.keyboard.press("s")
            alice.wait_for_url("**/rate/5")

            # back (b) to item 3: her own rating is shown; change TCC by keys and resubmit
            alice.keyboard.press("b")
            alice.wait_for_url("**/rate/4")
            alice.keyboard.press("b")
            alice.wait_for_url("**/rate/3")
            expect(alice.locator("#dim-iq input[value='4']")).to_be_checked()
            alice.keyboard.press("1")  # highlighted: TCC (every dimension is rated)
            alice.keyboard.press("Enter")
            entered[("alice", *key[3])] = {**entered[("alice", *key[3])], "tcc": 1}
            alice.wait_for_url("**/rate/5")

            # bob rates his first two by mouse; he never sees alice's ratings
            bob.goto(links["bob"])
            bob.wait_for_url("**/rate/1")
            for d in DIMS:
                expect(bob.locator(f"#dim-{d} input:checked")).to_have_count(0)
            entered[("bob", *key[1])] = {"tcc": 3, "icc": 2, "iq": 5, "its": 1}
            rate_by_mouse(bob, entered[("bob", *key[1])])
            bob.wait_for_url("**/rate/2")
            entered[("bob", *key[2])] = {"tcc": 0, "icc": 4, "iq": 4, "its": 0}
            rate_by_keys(bob, entered[("bob", *key[2])])
            bob.wait_for_url("**/rate/3")

            # kill the server without warning, then start it again from the database alone
            server.kill()
            server = Server(["--db", str(db_path)], port, log)

            # both resume where they stopped, still signed in (tokens live in the database)
            alice.goto(f"{server.base}/rate")
            alice.wait_for_url("**/rate/5")
            expect(alice.locator("#counts")).to_contain_text("3 rated · 1 skipped")
            entered[("alice", *key[5])] = {"tcc": 4, "icc": 4, "iq": 4, "its": 5}
            rate_by_keys(alice, entered[("alice", *key[5])])
            alice.wait_for_url("**/rate/6")
            alice.screenshot(path=str(artifacts_dir / "annotate_rate_page.png"), full_page=True)

            bob.goto(f"{server.base}/rate")
            bob.wait_for_url("**/rate/3")
            entered[("bob", *key[3])] = {"tcc": 5, "icc": 0, "iq": 2, "its": 3}
            rate_by_mouse(bob, entered[("bob", *key[3])])
            bob.wait_for_url("**/rate/4")

            # the admin sees progress per annotator
            admin = browser.new_context().new_page()
            admin.goto(links["admin"])
            admin.wait_for_url("**/admin")
            expect(admin.locator("tr[data-annotator='alice'] td.rated")).to_have_text("4")
            expect(admin.locator("tr[data-annotator='bob'] td.rated")).to_have_text("3")
            expect(admin.locator("#flags-table")).to_contain_text("no image to judge")
            admin.screenshot(path=str(artifacts_dir / "annotate_admin_page.png"), full_page=True)
            browser.close()
    finally:
        server.stop()

    # every rating intact and exactly once; the export is what was entered
    out = tmp_path / "ratings.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "intersyn",
            "annotate",
            "export",
            "--db",
            str(db_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "7 ratings written" in done.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = {(r["annotator"], r["sample_id"], r["turn"]): {d: r[d] for d in DIMS} for r in rows}
    assert len(rows) == len(got) == 7
    assert got == entered
    db = AnnotationDB(db_path)
    [flag] = db.flags()
    assert (flag["annotator"], flag["sample_id"], flag["turn"], flag["comment"]) == (
        "alice",
        "s001",
        1,
        "no image to judge",
    )
    history = [h for h in db.history() if h["annotator"] == "alice"]
    assert len(history) == 6  # 5 first submits + 1 edit; the refused Enter posted nothing
