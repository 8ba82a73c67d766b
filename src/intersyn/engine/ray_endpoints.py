"""Spread Ray workers over a role's endpoints (one vLLM/SGLang server per node).

A role with several ``base_urls`` serves the same model from several servers. On a cluster
each worker talks to one of them: a server on the worker's own node when there is one (no
cross-node traffic), else server ``i mod n`` for worker ``i``, so N workers load N servers
evenly. A loopback URL (``127.0.0.1``) means "the server on my own node" on every node.
A pinned worker has one endpoint: if that server dies, its samples fail after the gate's
retries, naming the endpoint, and ``--retry-failed`` reruns them. Pass
``--no-spread-endpoints`` to let every worker's gate spread calls over all endpoints instead
(it then also retries on another endpoint).

Example::

    cfg.writer.base_urls == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
    spread_endpoints(cfg, info).writer.base_urls   # ["http://10.0.0.2:8000/v1"] on node .2
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from intersyn.config import ROLES, RunConfig

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class _Worker(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def node_ip(self) -> str: ...


def pick_endpoint(endpoints: list[str], index: int, node_ip: str | None) -> str:
    """The endpoint worker ``index`` on ``node_ip`` should use (node-local first)."""
    if not endpoints:
        raise ValueError("no endpoints to choose from")
    local = [u for u in endpoints if _is_loopback(u) or (node_ip and _host(u) == node_ip)]
    pool = local or endpoints
    return pool[index % len(pool)]


def spread_endpoints(cfg: RunConfig, worker: _Worker) -> RunConfig:
    """A copy of ``cfg`` where every role with several endpoints uses the one for ``worker``.

    Endpoints do not enter the run fingerprint (they change how calls are made, not what
    comes back), so samples made by differently pinned workers belong to one run.
    """
    updates = {}
    for role in ROLES:
        rc = getattr(cfg, role)
        if rc is None:
            continue
        endpoints = rc.endpoints()
        if len(endpoints) < 2:
            continue
        chosen = pick_endpoint(endpoints, worker.index, worker.node_ip)
        updates[role] = rc.model_copy(update={"base_url": chosen, "base_urls": [chosen]})
    return cfg.model_copy(update=updates) if updates else cfg


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _is_loopback(url: str) -> bool:
    return _host(url) in _LOOPBACK
