"""Run configs: YAML files validated into typed objects.

A config has one section per role (``writer``, ``critic``, ``inspector``, ``painter``,
``judge``). Secrets never appear in a config: a role names the *environment variable* that
holds its key (``api_key_env``), and the key is read from the environment at call time.

Example::

    writer:
      backend: openai
      model: Qwen/Qwen2.5-7B-Instruct
      base_url: http://127.0.0.1:8000/v1
      limits: {concurrency: 64}
    critic: {use: writer}          # share the writer's endpoint and model
    painter: {backend: preview}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from intersyn.errors import ConfigError

ROLES = ("writer", "critic", "inspector", "painter", "judge")
BackendName = Literal[
    "openai", "openai-images", "diffusers", "llamacpp", "preview", "caption-proxy"
]


class _Cfg(BaseModel):
    # An error never echoes the value it refused: it may be a key typed in the wrong place.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


#: An environment variable's name (what ``api_key_env`` holds).
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: How the usual API keys and tokens begin (OpenAI, Hugging Face, Groq, xAI, GitHub, GitLab,
#: Google, Anthropic, Stripe-style, bearer headers).
_KEY_PREFIXES = (
    "sk-", "sk_", "hf_", "gsk_", "xai-", "ghp_", "gho_", "github_pat_", "glpat-", "AIza",
    "pk_", "rk_", "ya29.",
)  # fmt: skip
#: Field names under ``params`` that carry a secret (compared case-insensitively, - = _).
_SECRET_FIELD = re.compile(
    r"^(x_)?(api_?key|key|token|access_?token|auth_?token|bearer|secret|client_?secret|"
    r"password|passwd|authorization|credentials?|(openai|hf|hugging_?face)_\w*(key|token))$"
)
_WHERE_KEYS_GO = (
    "put the key in an environment variable (export MY_KEY=...) and name that variable in "
    "the role (api_key_env: MY_KEY); a key never goes in a config, which is copied into "
    "run.json and logs"
)


def looks_like_key(value: str) -> bool:
    """True for a string that looks like an API key or token rather than a name."""
    s = value.strip()
    if s.startswith(_KEY_PREFIXES) or s.lower().startswith(("bearer ", "basic ")):
        return True
    # A long unbroken run of mixed letters and digits: a token, not a variable name.
    return (
        len(s) >= 32
        and re.fullmatch(r"[A-Za-z0-9_\-.=+/]+", s) is not None
        and any(c.isdigit() for c in s)
        and any(c.islower() for c in s)
    )


def _url_secret(url: str) -> str | None:
    """What in ``url`` is a credential (``user:password@``, ``?api_key=…``), else None."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return None
    if password or (parts.username and looks_like_key(parts.username)):
        return "a user:password@ part"
    for name, value in parse_qsl(parts.query):
        if _SECRET_FIELD.match(name.lower().replace("-", "_")) or looks_like_key(value):
            return f"the query parameter {name!r}"
    return None


def _secret_in(value: Any, path: str) -> str | None:
    """The path of the first secret-looking field or value inside ``params``, else None."""
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{k}"
            if _SECRET_FIELD.match(str(k).lower().replace("-", "_")):
                return where
            found = _secret_in(v, where)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _secret_in(v, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(value, str) and looks_like_key(value):
        return path
    return None


class Limits(_Cfg):
    """Per-role limits applied by the gate."""

    concurrency: int = Field(default=16, ge=1)
    rpm: float | None = Field(default=None, gt=0, description="requests per minute")
    tpm: float | None = Field(default=None, gt=0, description="tokens per minute")
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    #: Cap on calls in flight to each endpoint this role uses, shared with every role that
    #: uses the same endpoint (None: only the per-role ``concurrency`` applies).
    endpoint_concurrency: int | None = Field(default=None, ge=1)


class RoleConfig(_Cfg):
    """How one role reaches a model."""

    use: str | None = Field(default=None, description="share another role's settings")
    backend: BackendName | None = None
    model: str | None = None
    base_url: str | None = None
    #: Several endpoints serving the same model (one vLLM per node): calls are spread over them.
    base_urls: list[str] = Field(default_factory=list)
    api_key_env: str | None = Field(default=None, description="NAME of the env var holding the key")
    params: dict[str, Any] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    cache: bool | None = None
    structured_output: Literal["auto", "json_schema", "json_object", "guided_json", "off"] = "auto"
    #: Whether the model sees images (a VLM). None: the backend's default (openai: False).
    vision: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literal_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("api_key" in data or "apikey" in data):
            raise ValueError(
                "api keys are never written in configs: set api_key_env to the NAME of an "
                "environment variable that holds the key"
            )
        if not isinstance(data, dict):
            return data
        env = data.get("api_key_env")
        if isinstance(env, str):
            if looks_like_key(env):
                raise ValueError(
                    "api_key_env holds what looks like the key itself, where the NAME of an "
                    f"environment variable belongs: {_WHERE_KEYS_GO}. Nothing was written; "
                    "rotate that key if the file was shared"
                )
            if not _ENV_NAME.match(env):
                raise ValueError(
                    "api_key_env is not an environment variable name (letters, digits and _, "
                    f"not starting with a digit); {_WHERE_KEYS_GO}"
                )
        urls = [data.get("base_url"), *(data.get("base_urls") or [])]
        for url in urls:
            if isinstance(url, str) and _url_secret(url):
                raise ValueError(
                    f"a base_url carries a credential ({_url_secret(url)}), and base URLs are "
                    f"saved in run.json and logs: {_WHERE_KEYS_GO}"
                )
        found = _secret_in(data.get("params"), "params")
        if found:
            raise ValueError(
                f"{found} looks like a secret (a key, token or password), and params are sent "
                f"in every request body and saved in run.json: {_WHERE_KEYS_GO}"
            )
        return data

    def api_key(self) -> str | None:
        """The key, read from the environment now (never stored on the object)."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if value is None:
            raise ConfigError(
                f"environment variable {self.api_key_env} (api_key_env) is not set; "
                "export it before running"
            )
        return value

    def endpoints(self) -> list[str]:
        return list(self.base_urls) or ([self.base_url] if self.base_url else [])


class SeirConfig(_Cfg):
    """SEIR settings (PAPER.md): K per stage, turn distribution, image settings."""

    k_question: int = Field(default=3, ge=0)
    k_answer: int = Field(default=3, ge=0)
    k_image: int = Field(default=3, ge=0)
    #: Turn-count distribution: weights for 1..len(turn_weights) turns (default uniform 1..5).
    turn_weights: list[float] = Field(default_factory=lambda: [1.0] * 5)
    max_question_words: int = 50
    max_caption_words: int = 65
    image_size: tuple[int, int] = (512, 512)
    topics: str | None = Field(default=None, description="topic hierarchy YAML; default shipped")
    templates: str | None = Field(default=None, description="templates YAML; default shipped")
    prompts_dir: str | None = None


class RayConfig(_Cfg):
    """The Ray engine (``--engine ray``, docs/scale.md): where, how many workers, GPU painters."""

    address: str | None = Field(
        default=None, description="auto, host:port or ray://host:port; unset: start a local Ray"
    )
    workers: int | None = Field(default=None, ge=1, description="default: one per cluster CPU")
    worker_in_flight: int = Field(default=32, ge=1, description="samples in flight per worker")
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs reserved per worker")
    painter_actors: int = Field(
        default=0, ge=0, description="host the painter in this many actors (0: in each worker)"
    )
    painter_gpus: float = Field(default=1.0, ge=0, description="GPUs per painter actor")
    spread_endpoints: bool = Field(
        default=True, description="pin each worker to one of a role's base_urls (node-local first)"
    )


class RunConfig(_Cfg):
    """A whole run: roles, SEIR settings, cache, budget, engine."""

    writer: RoleConfig | None = None
    critic: RoleConfig | None = None
    inspector: RoleConfig | None = None
    painter: RoleConfig | None = None
    judge: RoleConfig | None = None
    seir: SeirConfig = Field(default_factory=SeirConfig)
    seed: int = 0
    cache_path: str | None = Field(
        default=None, description="SQLite response cache; default in run dir"
    )
    budget_usd: float | None = Field(default=None, gt=0)
    prices: str | None = Field(default=None, description="price table YAML; default shipped")
    engine: Literal["local", "ray"] = "local"
    max_in_flight: int = Field(
        default=64, ge=1, description="samples in flight on the local engine"
    )
    rubric: str | None = None
    judge_prompt: str | None = Field(
        default=None,
        description="the judge's prompt as one Jinja file of your own (--prompt-file); "
        "default: the shipped prompts",
    )
    ray: RayConfig = Field(default_factory=RayConfig)
    #: The file this config was loaded from (set by :func:`load_config`; not a field).
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The YAML file this config came from, for error messages (None: built in code)."""
        return self._source

    @model_validator(mode="after")
    def _resolve_use(self) -> RunConfig:
        for role in ROLES:
            cfg = getattr(self, role)
            if cfg is None or cfg.use is None:
                continue
            target = getattr(self, cfg.use, None) if cfg.use in ROLES else None
            if target is None:
                raise ValueError(f"{role}.use names {cfg.use!r}, which is not a configured role")
            merged = target.model_dump(exclude_unset=True, exclude={"use"})
            merged.update(cfg.model_dump(exclude_unset=True, exclude={"use"}))
            setattr(self, role, RoleConfig.model_validate(merged))
        return self

    def role(self, name: str) -> RoleConfig:
        cfg = getattr(self, name, None)
        if cfg is None:
            raise ConfigError(f"role {name!r} is not configured; add a `{name}:` section")
        return cfg

    def fingerprint(self) -> str:
        """A short hash of everything that changes outputs (no secrets: keys are env names)."""
        # The Ray section says where work runs, not what it makes (and keeps old hashes).
        blob = json.dumps(self.model_dump(mode="json", exclude={"ray"}), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def load_config(
    path: str | os.PathLike[str] | None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Load and validate a YAML run config; errors name the file and the field.

    >>> cfg = load_config(None)  # an empty config: every role unset, SEIR defaults
    """
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text ({e})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{p}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{p}: the top level must be a mapping of sections, not {type(loaded).__name__}"
            )
        data = loaded
    if overrides:
        data = deep_merge(data, overrides)
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source)) from None
    cfg._source = str(path) if path is not None else None
    return cfg


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, section by section (``extra`` wins)."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
