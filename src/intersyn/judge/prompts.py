"""Judge prompts: rendered from template files in ``resources/prompts/judge_*.txt``.

Templates use ``$name`` placeholders (``string.Template``), so braces in a rubric or an answer
never break rendering. A user may copy the folder, edit the files and pass ``prompts_dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from intersyn.errors import ConfigError
from intersyn.judge.items import ImageLoad, JudgeItem
from intersyn.judge.rubric import Rubric
from intersyn.models.base import ChatMessage

_NAMES = ("system", "format_json", "turn", "history", "repair")


@dataclass(frozen=True)
class JudgePrompts:
    system: Template
    format_json: Template
    turn: Template
    history: Template
    repair: Template


def load_prompts(prompts_dir: str | Path | None = None) -> JudgePrompts:
    """The judge's templates: ``judge_<name>.txt`` from ``prompts_dir`` or the shipped folder."""
    texts = {}
    for name in _NAMES:
        fname = f"judge_{name}.txt"
        if prompts_dir is not None:
            p = Path(prompts_dir) / fname
            if not p.exists():
                texts[name] = _shipped(fname)
                continue
            try:
                texts[name] = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"{p}: prompt template cannot be read ({e})") from None
        else:
            texts[name] = _shipped(fname)
    return JudgePrompts(**{k: Template(v) for k, v in texts.items()})


def _shipped(fname: str) -> str:
    return resources.files("intersyn.resources").joinpath(f"prompts/{fname}").read_text("utf-8")


def image_note(item: JudgeItem, image: ImageLoad, vision: bool) -> str:
    """How the current turn's image is presented to the judge."""
    if image.data is None:
        return f"none ({image.reason})"
    if vision:
        return "attached below."
    described = item.caption or "(no description of the image is available)"
    return f"not shown to you; you are a text-only judge. A description of the image: {described}"


def build_messages(
    item: JudgeItem, image: ImageLoad, rubric: Rubric, prompts: JudgePrompts, *, vision: bool
) -> list[ChatMessage]:
    """System (rubric, rules, output format) + the turn to judge with its history."""
    system = prompts.system.safe_substitute(
        rubric=rubric.render(),
        rules="\n".join(f"- {r}" for r in rubric.rules),
        output_format=prompts.format_json.safe_substitute(),
    )
    history = "".join(
        prompts.history.safe_substitute(
            number=i + 1, question=h.question, answer=h.answer or "(none)", image_note=h.image_note
        )
        for i, h in enumerate(item.history)
    )
    user = prompts.turn.safe_substitute(
        history=history,
        question=item.question,
        answer=item.answer if item.answer.strip() else "(no answer text)",
        image_note=image_note(item, image, vision),
    )
    images = [image.data] if (vision and image.data is not None) else []
    return [ChatMessage("system", system), ChatMessage("user", user, images=images)]


def repair_messages(
    messages: list[ChatMessage], reply: str, error: str, prompts: JudgePrompts
) -> list[ChatMessage]:
    """The one repair request: the conversation, the unreadable reply, and what was wrong."""
    return [
        *messages,
        ChatMessage("assistant", reply),
        ChatMessage("user", prompts.repair.safe_substitute(error=error)),
    ]
