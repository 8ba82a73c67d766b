"""Shared test helpers.

``require(module)`` skips a test when an optional dependency is missing on a developer's
machine, but *fails* it when INTERSYN_REQUIRE_ALL=1 (set by scripts/test.sh, so CI proves
every part really ran).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _missing(what: str) -> None:
    if os.environ.get("INTERSYN_REQUIRE_ALL") == "1":
        pytest.fail(f"required for this suite but missing: {what}")
    pytest.skip(f"missing: {what}")


def require(*modules: str) -> None:
    """Skip (or fail under INTERSYN_REQUIRE_ALL=1) unless every module imports."""
    for m in modules:
        if importlib.util.find_spec(m) is None:
            _missing(f"python module {m}")


def require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"executable {name}")
    assert path is not None
    return path


@pytest.fixture
def artifacts_dir() -> Path:
    """A folder kept after the run for screenshots and other test artefacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A real Ray cluster: a head node and a second worker node (own raylets), one CPU each.

    Started once per test session, by the first Ray test that asks for it, and stopped at
    the end of the session (so CI starts and stops it). The driver is connected to it, so
    ``run_on_ray`` and the ``--engine ray`` commands run there without starting their own.
    The head also serves Ray Client: ``cluster.client_address`` is its ``ray://`` address
    (for a command run in its own process).
    """
    require("ray")
    import socket

    import ray
    from ray.cluster_utils import Cluster

    with socket.socket() as s:  # a free port for the Ray Client server
        s.bind(("127.0.0.1", 0))
        client_port = s.getsockname()[1]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "ray_client_server_port": client_port,
        },
    )
    cluster.client_address = f"ray://127.0.0.1:{client_port}"  # type: ignore[attr-defined]
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
