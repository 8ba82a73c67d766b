"""The diffusers painter on a tiny random FLUX pipeline built from configs (CPU, no download)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import require

pytestmark = pytest.mark.diffusers
SIZE = (32, 32)
PARAMS = {"steps": 2, "guidance": 3.5, "max_sequence_length": 16, "batch_size": 4}


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Any:
    require("torch", "diffusers", "transformers")
    from intersyn.testing.tiny_diffusers import tiny_flux_pipeline

    pipe = tiny_flux_pipeline(workdir=tmp_path_factory.mktemp("tok"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _pixels(png: bytes) -> list[Any]:
    return list(Image.open(io.BytesIO(png)).convert("RGB").tobytes())


async def test_prebuilt_pipeline_shapes_seeding_and_batching(tiny_pipeline: Any) -> None:
    from intersyn.models import Models
    from intersyn.models.diffusers_painter import DiffusersPainter

    painter = DiffusersPainter(pipeline=tiny_pipeline, params=PARAMS)
    models = Models(paint={"painter": painter})
    prompts = ["a red fox", "a blue sky", "a green tree", "a cat", "a dog", "the sea"]
    results = await asyncio.gather(
        *(models.paint("painter", p, size=SIZE, seed=i) for i, p in enumerate(prompts))
    )
    # Six concurrent calls with batch_size 4 ran as two pipeline calls, not six.
    assert painter.invocations == 2
    for r, seed in zip(results, range(6), strict=True):
        img = Image.open(io.BytesIO(r.image))
        assert (img.format, img.size, r.width, r.height) == ("PNG", SIZE, 32, 32)
        assert r.seed == seed and not r.preview and r.painter.startswith("diffusers:")
    # Same (prompt, seed, params), alone instead of in a batch: the same image.
    alone = await models.paint("painter", "a red fox", size=SIZE, seed=0)
    assert painter.invocations == 3
    assert _pixels(alone.image) == _pixels(results[0].image)
    other_seed = await models.paint("painter", "a red fox", size=SIZE, seed=99)
    assert _pixels(other_seed.image) != _pixels(results[0].image)
    assert models.usage_report()["roles"]["painter"]["images_made"] == 8


async def test_loads_a_saved_pipeline_by_path(tiny_pipeline: Any, tmp_path: Path) -> None:
    from intersyn.config import load_config
    from intersyn.models import Models

    folder = tmp_path / "tiny-flux"
    tiny_pipeline.save_pretrained(folder)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(
        f"painter:\n  backend: diffusers\n  model: {folder}\n"
        "  params: {steps: 2, guidance: 3.5, max_sequence_length: 16, device: cpu, dtype: float32}\n"
    )
    models = Models.from_config(load_config(cfg_path), cache_path=tmp_path / "cache.sqlite")
    first = await models.paint("painter", "a red fox", size=SIZE, seed=7)
    again = await models.paint("painter", "a red fox", size=SIZE, seed=7)
    await models.aclose()
    direct = await Models(paint={"p": _direct(tiny_pipeline)}).paint(
        "p", "a red fox", size=SIZE, seed=7
    )
    assert models.model_name("painter") == "tiny-flux"
    assert again.usage.cached and again.image == first.image
    assert _pixels(first.image) == _pixels(direct.image)


def _direct(pipe: Any) -> Any:
    from intersyn.models.diffusers_painter import DiffusersPainter

    return DiffusersPainter(pipeline=pipe, params=PARAMS)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    require("torch", "diffusers")
    from intersyn.errors import ConfigError
    from intersyn.models.diffusers_painter import load_pipeline

    with pytest.raises(ConfigError, match=r"model_index\.json"):
        load_pipeline(str(tmp_path / "nope"))
