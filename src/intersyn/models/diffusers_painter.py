"""Local text-to-image with diffusers: FLUX.1 schnell/dev, Stable Diffusion 3, SDXL.

``DiffusionPipeline.from_pretrained(model_path, torch_dtype=…)`` from a local folder (never a
hub download: ``local_files_only``), or a pipeline object passed in. One pipeline per process
(shared by every painter that names the same folder, dtype and device). Concurrent
``paint()`` calls are batched: calls that agree on size and parameters wait up to
``batch_wait_s`` for each other and run as one pipeline call of up to ``batch_size`` prompts,
each with its own ``torch.Generator`` seed, so (prompt, seed, params) reproduces the image
whatever batch it ran in.

Role params: ``dtype`` (float16 | bfloat16 | float32 | auto), ``device`` (cuda | cpu | mps |
auto), ``steps``, ``guidance``, ``batch_size``, ``batch_wait_s``, ``max_sequence_length``,
``negative_prompt`` and any other keyword the pipeline's ``__call__`` takes.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intersyn.errors import ConfigError
from intersyn.models.base import BackendError, PaintResult, Usage

_pipelines: dict[tuple[str, str, str], Any] = {}
_pipelines_lock = threading.Lock()
#: Pipeline settings that are ours, not keywords of the pipeline's ``__call__``.
OWN_PARAMS = frozenset({"dtype", "device", "batch_size", "batch_wait_s", "steps", "guidance"})


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ConfigError(
            'backend diffusers needs torch and diffusers: pip install "intersyn[diffusers]"'
        ) from None
    return torch


def pick_device(device: str | None) -> str:
    """``auto`` → cuda, then mps, then cpu."""
    torch = _torch()
    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str | None, device: str) -> Any:
    """``auto`` → bfloat16 on cuda, float32 elsewhere."""
    torch = _torch()
    name = dtype or "auto"
    if name == "auto":
        name = "bfloat16" if device == "cuda" else "float32"
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"painter.params.dtype {dtype!r} is not a torch dtype (float16, ...)")
    return value


def load_pipeline(model_path: str, dtype: str | None = None, device: str | None = None) -> Any:
    """The process-wide pipeline for a local folder (loaded once)."""
    dev = pick_device(device)
    key = (str(model_path), str(dtype), dev)
    with _pipelines_lock:
        if key not in _pipelines:
            path = Path(model_path).expanduser()
            if not (path / "model_index.json").is_file():
                raise ConfigError(
                    f"painter.model {model_path!r} is not a local diffusers pipeline folder "
                    "(no model_index.json); download it once with `huggingface-cli download "
                    "<repo> --local-dir <folder>` and give that folder"
                )
            try:
                from diffusers import DiffusionPipeline
            except ImportError:
                raise ConfigError(
                    'backend diffusers needs diffusers: pip install "intersyn[diffusers]"'
                ) from None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch_dtype → dtype rename
                pipe = DiffusionPipeline.from_pretrained(
                    str(path), torch_dtype=pick_dtype(dtype, dev), local_files_only=True
                )
            _pipelines[key] = pipe.to(dev)
        return _pipelines[key]


@dataclass
class _Job:
    prompt: str
    seed: int
    future: asyncio.Future[Any]


@dataclass
class _Batcher:
    """Jobs waiting for a pipeline call, grouped by (size, params)."""

    queues: dict[str, list[_Job]] = field(default_factory=dict)
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)


class DiffusersPainter:
    """A diffusers pipeline as a painter, with batching of concurrent calls."""

    name = "diffusers"

    def __init__(
        self,
        model_path: str | None = None,
        *,
        pipeline: Any = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        if pipeline is None and not model_path:
            raise ConfigError("backend diffusers needs model (a local pipeline folder)")
        self.model_path = model_path
        self.model = Path(model_path).name if model_path else type(pipeline).__name__
        self.params = dict(params or {})
        self.batch_size = max(1, int(self.params.get("batch_size", 4)))
        self.batch_wait_s = float(self.params.get("batch_wait_s", 0.02))
        self._pipeline = pipeline
        self._run_lock = threading.Lock()
        self._batchers: dict[int, _Batcher] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        #: Number of pipeline invocations so far (batching makes it smaller than the calls).
        self.invocations = 0

    def pipeline(self) -> Any:
        """The pipeline (loaded on first use)."""
        if self._pipeline is None:
            assert self.model_path is not None
            self._pipeline = load_pipeline(
                self.model_path, self.params.get("dtype"), self.params.get("device")
            )
            if hasattr(self._pipeline, "set_progress_bar_config"):
                self._pipeline.set_progress_bar_config(disable=True)
        return self._pipeline

    async def paint(
        self,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> PaintResult:
        start = time.perf_counter()
        used_seed = seed if seed is not None else secrets.randbelow(2**31)
        merged = {**self.params, **(params or {})}
        group = repr((tuple(size), sorted(merged.items(), key=lambda kv: kv[0])))
        loop = asyncio.get_running_loop()
        job = _Job(prompt, used_seed, loop.create_future())
        batcher = self._batchers.setdefault(id(loop), _Batcher())
        queue = batcher.queues.setdefault(group, [])
        queue.append(job)
        if len(queue) >= self.batch_size:
            self._flush(batcher, group, size, merged)
        elif group not in batcher.timers:
            batcher.timers[group] = loop.call_later(
                self.batch_wait_s, self._flush, batcher, group, size, merged
            )
        png, width, height = await job.future
        return PaintResult(
            image=png,
            width=width,
            height=height,
            seed=used_seed,
            usage=Usage(images_made=1, latency_s=time.perf_counter() - start),
            painter=f"diffusers:{self.model}",
        )

    def _flush(
        self, batcher: _Batcher, group: str, size: tuple[int, int], params: dict[str, Any]
    ) -> None:
        timer = batcher.timers.pop(group, None)
        if timer is not None:
            timer.cancel()
        jobs = batcher.queues.pop(group, [])
        while jobs:
            batch, jobs = jobs[: self.batch_size], jobs[self.batch_size :]
            task = asyncio.ensure_future(self._run_batch(batch, size, params))
            self._tasks.add(task)  # keep a reference until done (asyncio holds weak ones)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(
        self, batch: list[_Job], size: tuple[int, int], params: dict[str, Any]
    ) -> None:
        try:
            images = await asyncio.to_thread(self._generate, batch, size, params)
            if len(images) != len(batch):
                raise BackendError(
                    f"the pipeline returned {len(images)} images for {len(batch)} prompts",
                    retryable=False,
                )
        except BaseException as e:
            error = e
            if not isinstance(e, (BackendError, ConfigError)):
                error = BackendError(f"diffusers pipeline failed: {e}", retryable=False)
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        for job, image in zip(batch, images, strict=True):
            if not job.future.done():
                job.future.set_result(image)

    def _generate(
        self, batch: list[_Job], size: tuple[int, int], params: dict[str, Any]
    ) -> list[tuple[bytes, int, int]]:
        torch = _torch()
        pipe = self.pipeline()
        device = getattr(pipe, "device", "cpu")
        gen_device = "cpu" if str(device).startswith("mps") else str(device)
        accepted = set(inspect.signature(pipe.__call__).parameters)
        kwargs: dict[str, Any] = {
            k: v for k, v in params.items() if k not in OWN_PARAMS and k in accepted
        }
        if "steps" in params:
            kwargs["num_inference_steps"] = int(params["steps"])
        if "guidance" in params:
            kwargs["guidance_scale"] = float(params["guidance"])
        kwargs.update(
            prompt=[j.prompt for j in batch],
            width=int(size[0]),
            height=int(size[1]),
            generator=[torch.Generator(gen_device).manual_seed(j.seed) for j in batch],
            output_type="pil",
        )
        with self._run_lock, torch.inference_mode():
            self.invocations += 1
            out = pipe(**kwargs)
        results = []
        for img in out.images:
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            results.append((buf.getvalue(), img.width, img.height))
        return results

    async def aclose(self) -> None:
        return None  # the pipeline stays loaded for the process
