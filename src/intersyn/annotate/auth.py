"""Tokens, CSRF tokens and same-origin checks for the rating app.

* Each annotator and the admin hold a secret token (``secrets.token_urlsafe``); the database
  keeps only its SHA-256. A personal link ``/login?t=TOKEN`` sets an HttpOnly, SameSite=Strict
  cookie; scripts may send ``Authorization: Bearer TOKEN`` instead.
* A cookie-authenticated POST needs the CSRF token of its principal (an HMAC of the name under
  a per-database secret, so it survives server restarts) and, when the browser sends one, an
  Origin or Referer of this server. Bearer requests need neither: browsers never add that header
  on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE = "intersyn_annotate"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

Via = Literal["cookie", "bearer"]


def new_token() -> str:
    """A fresh secret token (32 random bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_hex(32)


def csrf_token(secret: str, principal: str) -> str:
    """The CSRF token of ``principal`` under the database's ``secret``."""
    mac = hmac.new(bytes.fromhex(secret), f"csrf:{principal}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def csrf_ok(secret: str, principal: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(secret, principal), str(sent))


def request_token(request: Request) -> tuple[str | None, Via]:
    """The token a request carries: a Bearer header first, else the cookie."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None, "bearer"
    return request.cookies.get(COOKIE), "cookie"


def own_origin(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}".lower()


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site.

    Browsers send ``Origin`` on every POST; older ones send ``Referer``. When neither is sent
    (a script), the CSRF token alone decides.
    """
    origin = request.headers.get("origin")
    mine = own_origin(request)
    if origin is not None:
        return origin.lower() == mine
    referer = request.headers.get("referer")
    if referer is not None:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == mine
    return True
