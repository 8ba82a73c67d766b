"""Issue 11, item 12: a key where a variable name belongs (``api_key_env: sk-…``) or a
key-like field in ``params`` is refused when the config loads — before run.json, failed/ or
a request could carry it — with a message saying where keys go, and never echoing the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from intersyn.cli import cli
from intersyn.config import RoleConfig, load_config, looks_like_key
from intersyn.errors import ConfigError
from intersyn.testing import ScriptedServer
from tests.fixtures.seir.doubles import TEMPLATES, TOPICS

SECRET = "sk-proj-9fQ2xLr8TzKb41mWq0aZcVn7"


def _write(tmp: Path, role: dict[str, object], base_url: str = "http://127.0.0.1:9/v1") -> Path:
    cfg = {
        "writer": {"backend": "openai", "model": "scripted", "base_url": base_url, **role},
        "critic": {"use": "writer"},
        "painter": {"backend": "preview"},
        "seir": {"topics": str(TOPICS), "templates": str(TEMPLATES), "image_size": [32, 32]},
    }
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    ("role", "where"),
    [
        ({"api_key_env": SECRET}, "looks like the key itself"),
        ({"api_key_env": "hf_" + "a" * 30}, "looks like the key itself"),
        ({"api_key_env": "MY KEY"}, "not an environment variable name"),
        ({"api_key_env": "1KEY"}, "not an environment variable name"),
        ({"params": {"api_key": SECRET}}, "params.api_key looks like a secret"),
        ({"params": {"temperature": 0, "Api-Key": "x"}}, "params.Api-Key looks like a secret"),
        (
            {"params": {"extra_headers": {"Authorization": f"Bearer {SECRET}"}}},
            "params.extra_headers.Authorization looks like a secret",
        ),
        ({"params": {"stop": ["###", SECRET]}}, "params.stop[1] looks like a secret"),
        ({"base_url": f"https://me:{SECRET}@api.example/v1"}, "a user:password@ part"),
        (
            {"base_urls": ["http://a:8000/v1", f"http://b:8000/v1?api_key={SECRET}"]},
            "the query parameter 'api_key'",
        ),
    ],
)
def test_keys_in_the_wrong_place_are_refused(
    tmp_path: Path, role: dict[str, object], where: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, role))
    message = str(e.value)
    assert where in message and "api_key_env: MY_KEY" in message
    assert SECRET not in message and "hf_aaaa" not in message
    with pytest.raises(ValidationError) as v:  # the Python API says the same, key unechoed
        RoleConfig.model_validate({"backend": "openai", **role})
    assert SECRET not in str(v.value)


def test_names_and_ordinary_params_pass() -> None:
    cfg = RoleConfig(
        backend="openai",
        api_key_env="OPENAI_API_KEY",
        params={"temperature": 0.2, "max_tokens": 256, "top_p": 0.9, "stop": ["\n\n"]},
    )
    assert cfg.api_key_env == "OPENAI_API_KEY"
    assert not looks_like_key("OPENAI_API_KEY") and not looks_like_key("VLLM_TOKEN_2")
    assert looks_like_key(SECRET) and looks_like_key("AIzaSyD3x")


def test_generate_refuses_before_writing_anything(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        cfg = _write(tmp_path, {"api_key_env": SECRET}, srv.base_url)
        run = tmp_path / "run"
        result = CliRunner().invoke(cli, ["generate", "-c", str(cfg), "-o", str(run), "-n", "1"])
        assert result.exit_code != 0 and "looks like the key itself" in result.output
        assert SECRET not in result.output
        assert not run.exists() and srv.requests == []
        cfg = _write(tmp_path, {"params": {"api_key": SECRET}}, srv.base_url)
        result = CliRunner().invoke(cli, ["generate", "-c", str(cfg), "-o", str(run), "-n", "1"])
        assert result.exit_code != 0 and "params.api_key" in result.output
        assert not run.exists() and srv.requests == []
