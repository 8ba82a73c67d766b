"""The one gate every model call passes through.

Usage (SEIR, judge, bench all do this)::

    models = Models.from_config(cfg, cache_path=run_dir / "cache.sqlite")
    reply = await models.chat("writer", [ChatMessage("user", "...")], schema=SCHEMA, sample_id="s1")
    pic = await models.paint("painter", caption, size=(512, 512), seed=1234, sample_id="s1")
    models.usage_report()     # per role: calls, tokens, images, latency percentiles, retries, cost
    await models.aclose()

Tests build it from backends directly: ``Models(chat={"writer": backend}, paint={...})``.

What a call goes through, in order:

1. the response cache (SQLite, content-addressed): a hit replays the stored reply at no cost;
   on by default for deterministic calls (``temperature: 0`` or a seed given), and identical
   calls in flight at once are made only once. Per call, ``cache="refresh"`` makes the call
   even when a reply is stored and overwrites it (for a retry after a stored reply proved
   unusable), and ``cache=False`` neither reads nor writes;
2. the budget: once the spend reaches ``budget_usd``, calls raise :class:`BudgetExceeded`;
3. per-role and per-endpoint concurrency slots, and the optional rpm/tpm token buckets;
4. the backend call under a timeout; on 429/5xx/timeouts/connection errors/malformed replies,
   retries with exponential backoff and jitter honouring Retry-After (another endpoint of
   the role when it has several), bounded by ``limits.max_retries``; then a
   :class:`ModelCallError` naming role, endpoint, model and sample;
5. usage accounting per role and the cost from the price table.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from intersyn.config import ROLES, Limits, RunConfig
from intersyn.data.journal import atomic_write_text
from intersyn.errors import BudgetExceeded, ConfigError, ModelError
from intersyn.models.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    ChatResult,
    PaintBackend,
    PaintResult,
    Usage,
)
from intersyn.models.cache import ResponseCache, chat_key, paint_key
from intersyn.models.limits import TokenBucket, backoff_delay
from intersyn.models.usage import PriceTable, UsageBook

log = logging.getLogger("intersyn.models")
R = TypeVar("R", ChatResult, PaintResult)

#: A call's use of the response cache: True (the default: replay a stored reply, store a new
#: one, when the call is cacheable), ``"refresh"`` (make the call, store its reply over the old
#: one) or False (neither read nor write).
CacheMode = bool | Literal["refresh"]


class ModelCallError(ModelError):
    """A model call failed for good (after retries, or at once when retrying cannot help).

    ``role``, ``endpoint``, ``model``, ``sample_id``, ``status`` and ``attempts`` say which
    call; the message says what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        role: str,
        model: str,
        endpoint: str | None,
        sample_id: str | None,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.role = role
        self.model = model
        self.endpoint = endpoint
        self.sample_id = sample_id
        self.status = status
        self.attempts = attempts
        self.retryable = retryable


@dataclass
class _LoopState:
    """Asyncio primitives, made per event loop (a Models may outlive one ``asyncio.run``)."""

    role_sems: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    endpoint_sems: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    rpm: dict[str, TokenBucket] = field(default_factory=dict)
    tpm: dict[str, TokenBucket] = field(default_factory=dict)
    inflight: dict[str, asyncio.Future[Any]] = field(default_factory=dict)


class Models:
    """Roles → backends, through one gate (limits, retries, timeouts, cache, usage, budget)."""

    def __init__(
        self,
        chat: dict[str, ChatBackend] | None = None,
        paint: dict[str, PaintBackend] | None = None,
        *,
        concurrency: dict[str, int] | None = None,
        limits: dict[str, Limits] | None = None,
        cache: ResponseCache | str | Path | None = None,
        cache_roles: dict[str, bool | None] | None = None,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        usage_path: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        self._chat = dict(chat or {})
        self._paint = dict(paint or {})
        self._limits: dict[str, Limits] = dict(limits or {})
        for role, n in (concurrency or {}).items():
            self._limits[role] = self.limits(role).model_copy(update={"concurrency": n})
        self.cache = ResponseCache(cache) if isinstance(cache, (str, Path)) else cache
        self._cache_roles = dict(cache_roles or {})
        self.book = UsageBook(prices)
        self.budget_usd = budget_usd
        self.usage_path = Path(usage_path) if usage_path else None
        self._rng = random.Random(seed)
        self._rr = itertools.count()
        self._endpoint_load: dict[str, int] = {}
        self._states: dict[int, _LoopState] = {}
        self._closed = False

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        cfg: RunConfig,
        *,
        cache_path: str | Path | None = None,
        usage_path: str | Path | None = None,
        roles: Iterable[str] | None = None,
        cache: bool = True,
        backends: dict[str, Any] | None = None,
    ) -> Models:
        """Build every configured role's backend (or only ``roles``) behind one gate.

        ``cache_path`` (else ``cfg.cache_path``) is the SQLite response cache; ``cache=False``
        turns the cache off. Roles whose settings agree share one backend object. The usage
        report is written to ``usage_path`` on :meth:`aclose` when given. ``backends`` gives
        ready backend objects for some roles instead of building them (the Ray engine's
        painter hosted in a GPU actor); their config sections still set limits and cache.
        """
        from intersyn.models.registry import backend_identity, build

        wanted = set(roles) if roles is not None else set(ROLES)
        chat: dict[str, ChatBackend] = {}
        paint: dict[str, PaintBackend] = {}
        shared: dict[str, tuple[str, Any]] = {}
        limits: dict[str, Limits] = {}
        cache_roles: dict[str, bool | None] = {}
        for role in ROLES:
            role_cfg = getattr(cfg, role)
            if role_cfg is None or role not in wanted:
                continue
            ident = f"{role == 'painter'}|{backend_identity(role_cfg)}"
            if backends and role in backends:
                kind, backend = ("paint" if role == "painter" else "chat"), backends[role]
            else:
                if ident not in shared:
                    shared[ident] = _build_named(cfg, role, role_cfg, build)
                kind, backend = shared[ident]
            (paint if kind == "paint" else chat)[role] = backend
            limits[role] = role_cfg.limits
            cache_roles[role] = role_cfg.cache
        missing = sorted(r for r in wanted if getattr(cfg, r, None) is None)
        if roles is not None and missing:
            where = f"{cfg.source}: " if cfg.source else ""
            raise ConfigError(
                f"{where}roles {', '.join(missing)} are not configured; add their sections"
            )
        path = cache_path if cache_path is not None else cfg.cache_path
        return cls(
            chat,
            paint,
            limits=limits,
            cache=(Path(path) if path is not None and cache else None),
            cache_roles=cache_roles,
            prices=PriceTable.load(cfg.prices),
            budget_usd=cfg.budget_usd,
            usage_path=usage_path,
            seed=cfg.seed,
        )

    # -- questions about roles ---------------------------------------------------------------

    def has(self, role: str) -> bool:
        """Whether ``role`` has a backend."""
        return role in self._chat or role in self._paint

    def roles(self) -> list[str]:
        """The configured roles, chat roles first."""
        return [*self._chat, *self._paint]

    def vision(self, role: str) -> bool:
        """Whether the role's backend can see images (else caption-proxy mode)."""
        backend = self._chat.get(role)
        return bool(backend is not None and getattr(backend, "vision", False))

    def model_name(self, role: str) -> str:
        """The model behind ``role`` (for records such as ``Judgement.judge_model``)."""
        backend = self._chat.get(role) or self._paint.get(role)
        if backend is None:
            raise ConfigError(f"role {role!r} is not configured")
        return backend.model

    def backend(self, role: str) -> ChatBackend | PaintBackend:
        """The backend object behind ``role`` (for ``models check``; calls go through the gate)."""
        backend = self._chat.get(role) or self._paint.get(role)
        if backend is None:
            raise ConfigError(f"role {role!r} is not configured")
        return backend

    def limits(self, role: str) -> Limits:
        """The role's limits (defaults when not configured)."""
        return self._limits.get(role) or Limits()

    # -- calls -------------------------------------------------------------------------------

    async def chat(
        self,
        role: str,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        sample_id: str | None = None,
        cache: CacheMode = True,
    ) -> ChatResult:
        """Send a chat call for ``role``; see the module docstring for what the gate applies.

        ``cache="refresh"`` skips a stored reply and stores the new one in its place (use it
        when a reply, perhaps replayed from the cache, could not be used); ``cache=False``
        keeps this call out of the cache entirely.
        """
        backend = self._chat.get(role)
        if backend is None:
            raise ConfigError(
                f"role {role!r} has no chat backend configured; add a `{role}:` section"
            )
        n_images = sum(len(m.images) for m in messages)
        if n_images and not getattr(backend, "vision", False):
            raise ConfigError(
                f"role {role!r} ({backend.model}) cannot see images (vision: false) but "
                f"sample {sample_id} sent {n_images}; use caption-proxy mode for this role "
                "or configure a vision model with `vision: true`"
            )
        merged = {**getattr(backend, "params", {}), **(params or {})}
        key = None
        if cache is not False and self._cacheable(role, backend, merged, seed):
            key = chat_key(
                _name(backend), backend.model, messages, params=merged, schema=schema, seed=seed
            )
        est = sum(len(m.content) for m in messages) // 4 + int(merged.get("max_tokens") or 0)

        def invoke(endpoint: str | None, timeout_s: float) -> Awaitable[ChatResult]:
            kw: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
            return backend.chat(
                messages, schema=schema, params=params, seed=seed, timeout_s=timeout_s, **kw
            )

        return await self._call(
            role, backend, "chat", key, invoke, sample_id, est, refresh=cache == "refresh"
        )

    async def paint(
        self,
        role: str,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        sample_id: str | None = None,
        cache: CacheMode = True,
    ) -> PaintResult:
        """Make an image for ``role``; cached when a seed is given (same prompt, seed, params).

        ``cache`` as in :meth:`chat`: ``"refresh"`` repaints and overwrites, False bypasses.
        """
        backend = self._paint.get(role)
        if backend is None:
            raise ConfigError(
                f"role {role!r} has no painter backend configured; add a `{role}:` section"
            )
        merged = {**getattr(backend, "params", {}), **(params or {})}
        key = None
        if cache is not False and self._cacheable(role, backend, merged, seed):
            key = paint_key(
                _name(backend), backend.model, prompt, size=size, params=merged, seed=seed
            )

        def invoke(endpoint: str | None, timeout_s: float) -> Awaitable[PaintResult]:
            kw: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
            return backend.paint(
                prompt, size=size, seed=seed, params=params, timeout_s=timeout_s, **kw
            )

        return await self._call(
            role, backend, "paint", key, invoke, sample_id, 0, refresh=cache == "refresh"
        )

    # -- the gate ----------------------------------------------------------------------------

    def _cacheable(self, role: str, backend: Any, params: dict[str, Any], seed: int | None) -> bool:
        if self.cache is None or not getattr(backend, "cacheable", True):
            return False
        forced = self._cache_roles.get(role)
        if forced is not None:
            return forced
        return seed is not None or params.get("temperature") == 0

    async def _call(
        self,
        role: str,
        backend: Any,
        kind: str,
        key: str | None,
        invoke: Callable[[str | None, float], Awaitable[R]],
        sample_id: str | None,
        est_tokens: int,
        *,
        refresh: bool = False,
    ) -> R:
        if self._closed:
            raise ModelError(f"role {role!r}: the model gate is closed (aclose was called)")
        model = backend.model
        if key is not None:
            # A refresh neither replays the stored reply nor shares one already on its way:
            # it exists because a reply for this very call proved unusable.
            hit = None if refresh else self._cache_get(kind, key)
            if hit is not None:
                self.book.record_ok(role, model, hit.usage)
                return hit  # type: ignore[return-value]
            state = self._state()
            pending = None if refresh else state.inflight.get(key)
            if pending is not None:
                # The same call is already being made: share its reply instead of paying twice.
                result = await asyncio.shield(pending)
                copy = replace(result, usage=replace(result.usage, cached=True, retries=0))
                self.book.record_ok(role, model, copy.usage)
                return copy  # type: ignore[no-any-return]
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            owner = key not in state.inflight  # a refresh beside a live call leaves it listed
            if owner:
                state.inflight[key] = future
            try:
                result = await self._attempts(role, backend, kind, invoke, sample_id, est_tokens)
            except BaseException as e:
                if not future.done():
                    future.set_exception(e)
                    future.exception()  # retrieved: no "never retrieved" warning
                raise
            else:
                future.set_result(result)
                if _worth_caching(result):
                    self._cache_put(kind, key, result)
                elif refresh:
                    self._cache_drop(key)  # the stored reply was unusable: never replay it
                return result
            finally:
                if owner:
                    state.inflight.pop(key, None)
        return await self._attempts(role, backend, kind, invoke, sample_id, est_tokens)

    async def _attempts(
        self,
        role: str,
        backend: Any,
        kind: str,
        invoke: Callable[[str | None, float], Awaitable[R]],
        sample_id: str | None,
        est_tokens: int,
    ) -> R:
        self._check_budget(role, sample_id)
        limits = self.limits(role)
        endpoints: list[str] = list(getattr(backend, "endpoints", None) or [])
        last_endpoint: str | None = None
        attempt = 0
        while True:
            endpoint = self._pick_endpoint(endpoints, avoid=last_endpoint)
            try:
                result = await self._one_attempt(role, endpoint, limits, invoke, est_tokens)
            except BackendError as e:
                error = e
            else:
                result.usage.retries = attempt
                cost = self.book.record_ok(role, backend.model, result.usage)
                result.usage.cost_usd = cost
                return result
            last_endpoint = endpoint
            if not error.retryable or attempt >= limits.max_retries:
                kind_name = f"http_{error.status}" if error.status else _error_kind(error)
                self.book.record_failure(role, backend.model, kind_name, attempt)
                raise self._final_error(role, backend, kind, endpoint, sample_id, error, attempt)
            delay = backoff_delay(
                attempt,
                base_s=limits.backoff_base_s,
                max_s=limits.backoff_max_s,
                retry_after_s=error.retry_after_s,
                rng=self._rng,
            )
            log.debug("%s: retry %d in %.2fs after %s", role, attempt + 1, delay, error)
            attempt += 1
            await asyncio.sleep(delay)

    async def _one_attempt(
        self,
        role: str,
        endpoint: str | None,
        limits: Limits,
        invoke: Callable[[str | None, float], Awaitable[R]],
        est_tokens: int,
    ) -> R:
        state = self._state()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._role_sem(state, role, limits))
            if endpoint is not None:
                sem = self._endpoint_sem(state, endpoint, limits)
                if sem is not None:
                    await stack.enter_async_context(sem)
            await self._rate_limit(state, role, limits, est_tokens)
            if endpoint is not None:
                self._endpoint_load[endpoint] = self._endpoint_load.get(endpoint, 0) + 1
            try:
                # The backend enforces timeout_s itself; this is the backstop for one that does not.
                result = await asyncio.wait_for(
                    invoke(endpoint, limits.timeout_s), limits.timeout_s + 0.25
                )
            except asyncio.TimeoutError:
                raise BackendError(
                    f"no reply within timeout_s={limits.timeout_s:g}s",
                    retryable=True,
                    endpoint=endpoint,
                ) from None
            except (ConnectionError, OSError) as e:
                raise BackendError(
                    f"connection failed: {e}", retryable=True, endpoint=endpoint
                ) from None
            finally:
                if endpoint is not None:
                    self._endpoint_load[endpoint] -= 1
        if limits.tpm is not None:
            used = result.usage.input_tokens + result.usage.output_tokens
            self._state().tpm[role].debit(used - est_tokens)
        return result

    def _final_error(
        self,
        role: str,
        backend: Any,
        kind: str,
        endpoint: str | None,
        sample_id: str | None,
        error: BackendError,
        retries: int,
    ) -> ModelCallError:
        where = endpoint or error.endpoint or f"{_name(backend)} (in process)"
        if error.retryable:
            todo = (
                "the server kept failing; check it is up and serving this model "
                "(`intersyn models check --config ...`), or raise limits.max_retries / "
                "limits.timeout_s for this role"
            )
        elif error.status in (401, 403):
            todo = "check the API key variable named by api_key_env"
        elif error.status == 404:
            todo = "check base_url and model"
        else:
            todo = "retrying cannot help: fix the request or the role's config"
        msg = (
            f"{role}: {kind} call to model {backend.model!r} at {where} failed for sample "
            f"{sample_id or '-'} after {retries + 1} attempt(s): {error}. What to do: {todo}"
        )
        return ModelCallError(
            msg,
            role=role,
            model=backend.model,
            endpoint=endpoint or error.endpoint,
            sample_id=sample_id,
            status=error.status,
            attempts=retries + 1,
            retryable=error.retryable,
        )

    # -- limits ------------------------------------------------------------------------------

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(id(loop))
        if state is None:
            self._states = {id(loop): _LoopState()}  # a new loop: the old primitives are dead
            state = self._states[id(loop)]
        return state

    def _role_sem(self, state: _LoopState, role: str, limits: Limits) -> asyncio.Semaphore:
        sem = state.role_sems.get(role)
        if sem is None:
            sem = state.role_sems[role] = asyncio.Semaphore(limits.concurrency)
        return sem

    def _endpoint_sem(
        self, state: _LoopState, endpoint: str, limits: Limits
    ) -> asyncio.Semaphore | None:
        sem = state.endpoint_sems.get(endpoint)
        if sem is None:
            caps = [
                lim.endpoint_concurrency
                for role, lim in self._limits.items()
                if lim.endpoint_concurrency is not None
                and endpoint
                in (getattr(self._chat.get(role) or self._paint.get(role), "endpoints", None) or [])
            ]
            if limits.endpoint_concurrency is not None:
                caps.append(limits.endpoint_concurrency)
            if not caps:
                return None
            # Roles sharing an endpoint share its cap; the strictest configured cap wins.
            sem = state.endpoint_sems[endpoint] = asyncio.Semaphore(min(caps))
        return sem

    async def _rate_limit(self, state: _LoopState, role: str, limits: Limits, est: int) -> None:
        if limits.rpm is not None:
            bucket = state.rpm.get(role) or state.rpm.setdefault(role, TokenBucket(limits.rpm))
            await bucket.acquire(1)
        if limits.tpm is not None:
            bucket = state.tpm.get(role) or state.tpm.setdefault(role, TokenBucket(limits.tpm))
            await bucket.acquire(max(1, est))

    def _pick_endpoint(self, endpoints: list[str], *, avoid: str | None) -> str | None:
        if not endpoints:
            return None
        if len(endpoints) == 1:
            return endpoints[0]
        pool = [e for e in endpoints if e != avoid] or endpoints
        # Least loaded first; ties broken round-robin so idle endpoints all get work.
        start = next(self._rr) % len(pool)
        rotated = pool[start:] + pool[:start]
        return min(rotated, key=lambda e: self._endpoint_load.get(e, 0))

    # -- budget, cache, usage ----------------------------------------------------------------

    def _check_budget(self, role: str, sample_id: str | None) -> None:
        if self.budget_usd is not None and self.book.spent_usd >= self.budget_usd:
            raise BudgetExceeded(
                f"budget_usd={self.budget_usd:g} reached (spent ${self.book.spent_usd:.4f}); "
                f"stopped before a {role} call for sample {sample_id or '-'}. Finished work is "
                "kept: raise budget_usd and run again with --resume"
            )

    def _cache_get(self, kind: str, key: str) -> ChatResult | PaintResult | None:
        assert self.cache is not None
        return self.cache.get_chat(key) if kind == "chat" else self.cache.get_paint(key)

    def _cache_put(self, kind: str, key: str, result: ChatResult | PaintResult) -> None:
        assert self.cache is not None
        if isinstance(result, ChatResult):
            self.cache.put_chat(key, result)
        else:
            self.cache.put_paint(key, result)

    def _cache_drop(self, key: str) -> None:
        assert self.cache is not None
        self.cache.delete(key)

    @property
    def spent_usd(self) -> float:
        """Estimated spend so far (USD)."""
        return self.book.spent_usd

    def usage_report(self) -> dict[str, Any]:
        """Usage per role and in total (JSON-able): calls, tokens, latency, retries, cost."""
        report = self.book.report(self.budget_usd)
        report["cache"] = str(self.cache.path) if self.cache is not None else None
        return report

    def usage_totals(self) -> dict[str, Any]:
        """``usage_report()["total"]`` without the per-role latency percentiles (cheap enough
        to call after every sample)."""
        return self.book.totals()

    def write_usage(self, path: str | Path) -> Path:
        """Write :meth:`usage_report` as JSON to ``path`` (atomically); returns the path."""
        p = Path(path)
        atomic_write_text(p, json.dumps(self.usage_report(), indent=2) + "\n")
        return p

    async def aclose(self) -> None:
        """Close every backend (once), write the usage report if asked, close the cache."""
        if self._closed:
            return
        self._closed = True
        seen: set[int] = set()
        backends: list[ChatBackend | PaintBackend] = [*self._chat.values(), *self._paint.values()]
        for backend in backends:
            if id(backend) not in seen:
                seen.add(id(backend))
                await backend.aclose()
        if self.usage_path is not None:
            self.write_usage(self.usage_path)
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> Models:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _build_named(
    cfg: RunConfig, role: str, role_cfg: Any, build: Callable[[str, Any], tuple[str, Any]]
) -> tuple[str, Any]:
    """Build one role's backend; a config error names the file it came from."""
    try:
        return build(role, role_cfg)
    except ConfigError as e:
        if cfg.source and not str(e).startswith(cfg.source):
            raise ConfigError(f"{cfg.source}: {e}") from None
        raise


def _name(backend: Any) -> str:
    return str(getattr(backend, "name", type(backend).__name__))


def _worth_caching(result: ChatResult | PaintResult) -> bool:
    # A reply cut short or a refusal is not something to replay forever.
    if isinstance(result, ChatResult):
        return result.finish_reason in (None, "stop") and not result.refusal
    return True


def _error_kind(error: BackendError) -> str:
    text = str(error).lower()
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "malformed" in text:
        return "malformed"
    if "connect" in text:
        return "connection"
    return "error"


__all__ = ["CacheMode", "ModelCallError", "Models", "Usage"]
