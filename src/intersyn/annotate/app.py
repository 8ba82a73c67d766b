"""The rating web app: server-rendered pages (Jinja2, autoescaped) on Starlette.

Pages (all need a token: the cookie from a personal link, or ``Authorization: Bearer``)::

    GET  /login?t=TOKEN           sign in from a personal link (sets the cookie)
    GET  /rate                    resume: the first item not yet rated or skipped
    GET  /rate/{position}         one turn to rate (position in this annotator's own queue)
    POST /rate/{position}         submit (form: csrf, action=rate|skip, tcc, icc, iq, its,
                                  comment, flag)
    GET  /image/{position}/{turn} an image of that item or of an earlier turn of its dialogue
    GET  /done                    the end of the queue
    GET  /admin                   progress per annotator, Krippendorff's α so far, flags, export
    GET  /admin/export.{jsonl,parquet}

JSON API (same tokens; a cookie also needs the ``X-CSRF-Token`` header on POST)::

    GET  /api/me                  progress and the next position
    GET  /api/queue               every position with its state
    GET  /api/items/{position}    the item and this annotator's own rating
    POST /api/items/{position}    {"action": "rate", "tcc": 4, …, "comment": …, "flag": false}
    GET  /api/admin/status        progress and agreement (admin)

Annotators address items only by position in their own queue, and every query is filtered by
the signed-in annotator, so nobody can read or change another's ratings.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intersyn.annotate.agreement import agreement_so_far
from intersyn.annotate.auth import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    Via,
    csrf_ok,
    csrf_token,
    request_token,
    same_origin,
)
from intersyn.annotate.db import AnnotationDB, CurrentRating, Item, Principal, Submission
from intersyn.annotate.export import jsonl_bytes, ratings_bytes
from intersyn.errors import InputError
from intersyn.judge.rubric import load_rubric
from intersyn.schema import DIMENSIONS

log = logging.getLogger("intersyn.annotate")

T = TypeVar("T")
MAX_COMMENT = 2000
MAX_BODY = 64 * 1024
MAX_POSITION = 10**9
COOKIE_DAYS = 30
_SCORE = re.compile(r"[0-5]")

CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class SubmissionError(ValueError):
    """A submit that cannot be stored; the message says which field and what is allowed."""


def parse_submission(data: Mapping[str, Any], *, json_body: bool) -> Submission:
    """Validate a submit from a form (strings) or a JSON body (strict types).

    Scores are integers 0–5 (``"3"`` in a form, ``3`` in JSON; never 3.5, ``true`` or ``"3"``
    in JSON). ``rate`` needs all four; ``skip`` takes none. A flag needs a comment.
    """
    action = data.get("action", "rate")
    if action not in ("rate", "skip"):
        raise SubmissionError(f"action must be 'rate' or 'skip', got {action!r}")
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise SubmissionError("comment must be text")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise SubmissionError(f"comment is {len(comment)} characters; at most {MAX_COMMENT}")
    flagged = _flag_value(data.get("flag"), json_body=json_body)
    if flagged and comment is None:
        raise SubmissionError("a flag needs a comment saying what is wrong with the item")
    if action == "skip":
        return Submission("skip", None, comment, flagged)
    missing = [d.upper() for d in DIMENSIONS if data.get(d) is None or data.get(d) == ""]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise SubmissionError(
            f"{', '.join(missing)} {verb} missing: rate every dimension 0-5, or skip"
        )
    scores = {d: _score_value(d, data.get(d), json_body=json_body) for d in DIMENSIONS}
    return Submission("rate", scores, comment, flagged)


def _score_value(dim: str, value: Any, *, json_body: bool) -> int:
    if value is None or value == "":
        raise SubmissionError(f"{dim.upper()} is missing: rate every dimension 0-5, or skip")
    if json_body:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise SubmissionError(f"{dim.upper()} must be an integer 0-5, got {value!r}")
        return value
    if not isinstance(value, str) or not _SCORE.fullmatch(value):  # "1\n" is not 1
        shown = value if isinstance(value, str) else type(value).__name__
        raise SubmissionError(f"{dim.upper()} must be an integer 0-5, got {shown!r}")
    return int(value)


def _flag_value(value: Any, *, json_body: bool) -> bool:
    if value is None:
        return False
    if json_body:
        if not isinstance(value, bool):
            raise SubmissionError(f"flag must be true or false, got {value!r}")
        return value
    if value in ("on", "1", "true"):
        return True
    if value in ("", "0", "false", "off"):
        return False
    raise SubmissionError(f"flag must be on or off, got {value!r}")


class SecurityHeaders:
    """Adds CSP and friends to every response; HTML and JSON are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                    b"cache-control": b"no-store",
                }
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RatingApp:
    """The endpoints, bound to one database."""

    def __init__(self, db: AnnotationDB, rubric: Path | None = None) -> None:
        self.db = db
        meta = db.meta()
        self.secret = meta["csrf_secret"]
        self.rubric = load_rubric(rubric)
        folder = Path(str(resources.files("intersyn.resources").joinpath("annotate/templates")))
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates = Jinja2Templates(env=env)

    # -- helpers ----------------------------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking database call off the event loop."""
        return await run_in_threadpool(fn, *args)

    def render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    async def who(self, request: Request, role: str) -> tuple[Principal, Via]:
        """The signed-in principal, which must have ``role``; else 401/403."""
        token, via = request_token(request)
        if not token:
            raise HTTPException(401, "Not signed in: open your personal link (ask the admin).")
        principal = await self.run(self.db.principal_for_token, token)
        if principal is None:
            raise HTTPException(
                401, "This link or token is not valid (it may have been replaced); ask the admin."
            )
        if principal.role != role:
            raise HTTPException(403, f"This page is for the {role}; you are signed in as another.")
        return principal, via

    def check_post(self, request: Request, principal: Principal, via: Via, sent: Any) -> None:
        """Refuse cross-site posts: Origin/Referer of this server and the CSRF token."""
        if via == "bearer":
            return
        if not same_origin(request):
            raise HTTPException(403, "Refused: this request came from another site.")
        if not csrf_ok(self.secret, principal.name, sent if isinstance(sent, str) else None):
            raise HTTPException(403, "Missing or wrong CSRF token: reload the page and try again.")

    @staticmethod
    def position(request: Request, name: str = "position") -> int:
        value = int(request.path_params[name])
        if not 0 <= value <= MAX_POSITION:
            raise HTTPException(404, f"no such {name} {value}")
        return value

    # -- sign in ----------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        token = request.query_params.get("t", "")
        principal = await self.run(self.db.principal_for_token, token)
        if principal is None:
            raise HTTPException(
                403,
                "This link is not valid (it may have been replaced). Ask the admin for a new one"
                " (`intersyn annotate links`).",
            )
        target = "/admin" if principal.role == "admin" else "/rate"
        # A page, not a redirect: a SameSite=Strict cookie set during a navigation that began on
        # another site (a mail client) is only sent once the next navigation starts here.
        response = self.render(request, "login.html", {"target": target, "name": principal.name})
        response.headers["referrer-policy"] = "no-referrer"
        response.set_cookie(
            COOKIE, token, max_age=COOKIE_DAYS * 86400, path="/", httponly=True, samesite="strict"
        )
        return response

    async def logout(self, request: Request) -> Response:
        # Another site must not sign a person out (a cross-site form post): same origin only.
        if not same_origin(request):
            raise HTTPException(403, "Refused: this request came from another site.")
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def home(self, request: Request) -> Response:
        token, _ = request_token(request)
        principal = await self.run(self.db.principal_for_token, token or "")
        if principal is None:
            raise HTTPException(401, "Not signed in: open your personal link (ask the admin).")
        return RedirectResponse("/admin" if principal.role == "admin" else "/rate", 303)

    # -- rating pages -----------------------------------------------------------------------
    async def resume(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        nxt = await self.run(self.db.next_pending, principal.name, 0)
        return RedirectResponse(f"/rate/{nxt}" if nxt else "/done", 303)

    async def rate_page(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        pos = self.position(request)
        context = await self.run(self.page_context, principal.name, pos)
        return self.render(request, "rate.html", context)

    def page_context(
        self,
        annotator: str,
        pos: int,
        *,
        entered: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        item = self.db.item_at(annotator, pos)
        size = self.db.queue_size(annotator)
        if item is None:
            raise HTTPException(404, f"There is no item {pos} in your queue (1-{size}).")
        current = self.db.rating_of(annotator, item.id)
        scores: dict[str, int | str] = dict(current.scores or {}) if current else {}
        comment = current.comment if current else None
        flagged = current.flagged if current else False
        if entered is not None:  # a refused submit: show what was entered
            scores = {d: str(entered.get(d)) for d in DIMENSIONS if isinstance(entered.get(d), str)}
            comment = entered.get("comment") if isinstance(entered.get("comment"), str) else None
            flagged = entered.get("flag") in ("on", "1", "true")
        return {
            "annotator": annotator,
            "pos": pos,
            "size": size,
            "item": item,
            "image_url": _image_url(pos, item),
            "earlier": [
                {
                    "turn": t.turn,
                    "question": t.question,
                    "answer": t.answer,
                    "image_url": _image_url(pos, t),
                }
                for t in self.db.earlier_turns(item)
            ],
            "rubric": self.rubric,
            "scores": {k: int(v) for k, v in scores.items() if str(v).isdigit()},
            "comment": comment,
            "flagged": flagged,
            "state": current.state if current else None,
            "edits": current.edits if current else 0,
            "progress": self.db.progress_of(annotator),
            "prev_pos": pos - 1 if pos > 1 else None,
            "next_pos": pos + 1 if pos < size else None,
            "csrf": csrf_token(self.secret, annotator),
            "error": error,
        }

    async def rate_submit(self, request: Request) -> Response:
        principal, via = await self.who(request, "annotator")
        pos = self.position(request)
        try:
            form = await request.form(max_files=0, max_fields=20)
        except Exception as e:  # malformed multipart / urlencoded bodies
            raise HTTPException(400, f"Malformed form: {e}") from e
        fields = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        self.check_post(request, principal, via, fields.get(CSRF_FIELD))
        try:
            sub = parse_submission(fields, json_body=False)
        except SubmissionError as e:
            context = await self.run(
                functools.partial(self.page_context, entered=fields, error=str(e)),
                principal.name,
                pos,
            )
            return self.render(request, "rate.html", context, status=422)
        await self.store(principal.name, pos, sub)
        nxt = await self.run(self.db.next_pending, principal.name, pos)
        return RedirectResponse(f"/rate/{nxt}" if nxt else "/done", 303)

    async def store(self, annotator: str, pos: int, sub: Submission) -> CurrentRating:
        try:
            return await self.run(self.db.submit, annotator, pos, sub)
        except LookupError as e:
            raise HTTPException(404, f"There is no item {pos} in your queue.") from e

    async def done(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        progress = await self.run(self.db.progress_of, principal.name)
        queue = await self.run(self.db.queue_states, principal.name)
        return self.render(
            request,
            "done.html",
            {"annotator": principal.name, "progress": progress, "queue": queue},
        )

    async def image(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        pos, turn = self.position(request), self.position(request, "turn")
        found = await self.run(self.db.image_for, principal.name, pos, turn)
        if found is None or not found[1].startswith("image/"):
            raise HTTPException(404, "No such image.")
        data, mime = found
        return Response(data, media_type=mime, headers={"cache-control": "private, max-age=86400"})

    # -- admin ------------------------------------------------------------------------------
    def admin_status(self) -> dict[str, Any]:
        ratings = self.db.ratings()
        return {
            "items": self.db.item_count(),
            "ratings": len(ratings),
            "overlap": int(self.db.meta().get("overlap", "1")),
            "progress": [asdict(p) for p in self.db.progress()],
            "agreement": agreement_so_far(ratings),
            "flags": self.db.flags(),
        }

    async def admin_page(self, request: Request) -> Response:
        await self.who(request, "admin")
        status = await self.run(self.admin_status)
        context = {"status": status, "rubric": self.rubric, "db_path": str(self.db.path)}
        return self.render(request, "admin.html", context)

    async def admin_export(self, request: Request) -> Response:
        await self.who(request, "admin")
        fmt = request.path_params["fmt"]
        if fmt not in ("jsonl", "parquet"):
            raise HTTPException(404, "Export as export.jsonl or export.parquet.")
        ratings = await self.run(self.db.ratings)
        data = ratings_bytes(ratings, fmt)
        media = "application/x-ndjson" if fmt == "jsonl" else "application/vnd.apache.parquet"
        headers = {"content-disposition": f'attachment; filename="ratings.{fmt}"'}
        return Response(data, media_type=media, headers=headers)

    async def admin_flags(self, request: Request) -> Response:
        await self.who(request, "admin")
        flags = await self.run(self.db.flags)
        return Response(jsonl_bytes(flags), media_type="application/x-ndjson")

    # -- JSON API ---------------------------------------------------------------------------
    async def api_me(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        progress = await self.run(self.db.progress_of, principal.name)
        nxt = await self.run(self.db.next_pending, principal.name, 0)
        return JSONResponse(
            {"annotator": principal.name, "progress": asdict(progress), "next": nxt}
        )

    async def api_queue(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        return JSONResponse({"queue": await self.run(self.db.queue_states, principal.name)})

    async def api_item(self, request: Request) -> Response:
        principal, _ = await self.who(request, "annotator")
        pos = self.position(request)
        context = await self.run(self.page_context, principal.name, pos)
        item: Item = context["item"]
        current = await self.run(self.db.rating_of, principal.name, item.id)
        return JSONResponse(
            {
                "position": pos,
                "size": context["size"],
                "item": {
                    "sample_id": item.sample_id,
                    "turn": item.turn,
                    "topic": item.topic,
                    "question": item.question,
                    "answer": item.answer,
                    "image_url": context["image_url"],
                    "earlier": context["earlier"],
                },
                "rating": _rating_json(current),
            }
        )

    async def api_submit(self, request: Request) -> Response:
        principal, via = await self.who(request, "annotator")
        pos = self.position(request)
        self.check_post(request, principal, via, request.headers.get(CSRF_HEADER))
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPException(400, f"The body is not valid JSON: {e}") from e
        if not isinstance(body, dict):
            raise HTTPException(400, "The body must be a JSON object.")
        try:
            sub = parse_submission(body, json_body=True)
        except SubmissionError as e:
            raise HTTPException(422, str(e)) from e
        current = await self.store(principal.name, pos, sub)
        nxt = await self.run(self.db.next_pending, principal.name, pos)
        return JSONResponse({"rating": _rating_json(current), "next": nxt})

    async def api_admin_status(self, request: Request) -> Response:
        await self.who(request, "admin")
        return JSONResponse(await self.run(self.admin_status))

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    # -- errors -----------------------------------------------------------------------------
    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        if status == 405:
            detail = f"{request.method} is not allowed here."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail, "status": status}, status_code=status)
        phrase = _PHRASES.get(status) or _http_phrase(status)
        context = {"status": status, "phrase": phrase, "message": detail}
        return self.render(request, "error.html", context, status)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "Internal error. Every rating acknowledged so far is stored; please report this."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "status": 500}, status_code=500)
        return Response(message, status_code=500, media_type="text/plain")


_PHRASES = {401: "Not signed in", 403: "Not allowed", 404: "Not found", 413: "Too large"}


def _http_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _image_url(pos: int, item: Item) -> str | None:
    if item.image_sha256 is None or not (item.image_mime or "").startswith("image/"):
        return None
    return f"/image/{pos}/{item.turn}"


def _rating_json(current: CurrentRating | None) -> dict[str, Any] | None:
    if current is None:
        return None
    return {
        "state": current.state,
        "scores": current.scores,
        "comment": current.comment,
        "flag": current.flagged,
        "edits": current.edits,
        "updated_at": current.updated_at,
    }


def default_allowed_hosts(host: str) -> list[str]:
    """Hosts a request may name: loopback names, plus the bound host (any host for 0.0.0.0)."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted({"127.0.0.1", "localhost", "::1", "[::1]", host})


def create_app(
    db_path: Path, *, allowed_hosts: list[str] | None = None, rubric: Path | None = None
) -> Starlette:
    """The ASGI app serving the ratings database at ``db_path`` (set up by ``prepare``).

    ``allowed_hosts`` guards against DNS rebinding (default: loopback names only); ``rubric``
    is a rubric file to show (default: the judge's shipped rubric).
    """
    db = AnnotationDB(Path(db_path))
    if not db.path.exists() or not db.is_ready():
        raise InputError(
            f"{db_path} is not a ready ratings database: run `intersyn annotate serve INPUT`"
        )
    app = RatingApp(db, rubric)
    routes = [
        Route("/", app.home),
        Route("/healthz", app.health),
        Route("/login", app.login),
        Route("/logout", app.logout, methods=["POST"]),
        Route("/rate", app.resume),
        Route("/rate/{position:int}", app.rate_page, methods=["GET"]),
        Route("/rate/{position:int}", app.rate_submit, methods=["POST"]),
        Route("/done", app.done),
        Route("/image/{position:int}/{turn:int}", app.image),
        Route("/admin", app.admin_page),
        Route("/admin/flags.jsonl", app.admin_flags),
        Route("/admin/export.{fmt}", app.admin_export),
        Route("/api/me", app.api_me),
        Route("/api/queue", app.api_queue),
        Route("/api/items/{position:int}", app.api_item, methods=["GET"]),
        Route("/api/items/{position:int}", app.api_submit, methods=["POST"]),
        Route("/api/admin/status", app.api_admin_status),
        Mount(
            "/static",
            StaticFiles(packages=[("intersyn.resources", "annotate/static")]),
            name="static",
        ),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            TrustedHostMiddleware,
            allowed_hosts=allowed_hosts or default_allowed_hosts("127.0.0.1"),
        ),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        db.close()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={HTTPException: app.http_error, 500: app.server_error},
        max_body_size=MAX_BODY,
    )
