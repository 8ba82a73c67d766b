"""A tiny randomly initialised FLUX pipeline built from configs: no download, runs on a CPU.

For tests and benchmarks of the diffusers painter: real diffusers code paths (text encoders,
transformer, VAE, scheduler, seeding, batching) with random weights, so its pictures are noise.
Every module is put in eval mode, else dropout makes one seed give different images.

>>> pipe = tiny_flux_pipeline()                    # doctest: +SKIP
>>> pipe.save_pretrained("/tmp/tiny-flux")         # then DiffusersPainter("/tmp/tiny-flux")
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any


def _byte_chars() -> list[str]:
    """The 256 printable characters byte-level BPE uses for bytes (GPT-2's table)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += list(range(ord("®"), ord("ÿ") + 1))
    out, extra = [], 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


def _clip_tokenizer(folder: Path) -> Any:
    """A CLIP BPE tokenizer over single characters (no merges)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|padding|>": 1, "<|endoftext|>": 2}
    for c in _byte_chars():
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    try:  # transformers 5: built from the vocabulary directly
        return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token="<|padding|>")
    except TypeError:  # transformers 4: from files
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\n")
        return CLIPTokenizer(
            str(folder / "vocab.json"),
            str(folder / "merges.txt"),
            model_max_length=77,
            pad_token="<|padding|>",
        )


def _t5_tokenizer() -> Any:
    """A word-level fast tokenizer standing in for T5's (explicit model_max_length)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "with",
        "and",
        "red",
        "blue",
        "green",
        "fox",
        "cat",
        "dog",
        "tree",
        "sky",
        "sea",
        "snow",
        "diagram",
    ]
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=64,
    )


def tiny_flux_pipeline(seed: int = 0, workdir: str | Path | None = None) -> Any:
    """A ``FluxPipeline`` of tiny random modules (about 0.1 s for two 32×32 two-step images)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    folder = Path(workdir or tempfile.mkdtemp(prefix="tiny-flux-tok-"))
    folder.mkdir(parents=True, exist_ok=True)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=1000,
            projection_dim=32,
            max_position_embeddings=77,
        )
    )
    text_encoder_2 = T5EncoderModel(
        T5Config(d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, vocab_size=1000)
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    modules: list[Any] = [transformer, text_encoder, text_encoder_2, vae]
    for module in modules:
        module.eval()
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_clip_tokenizer(folder),
        text_encoder_2=text_encoder_2,
        tokenizer_2=_t5_tokenizer(),
        transformer=transformer,
    )
