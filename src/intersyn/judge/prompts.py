"""Judge prompts: Jinja templates ``resources/prompts/judge_*.j2``, or the user's own file.

The shipped prompts are a system message (rubric, rules, the JSON output format) and a user
message (earlier turns as context, then the turn to score); each request also carries the JSON
schema of the four scores. Values are never re-read as template text, so braces in a rubric
or an answer never break rendering. ``load_prompts(prompts_dir)`` takes ``judge_<name>.j2``
files from a folder of one's own (missing ones fall back to the shipped ones).

``load_prompts(prompt_file=...)`` (``intersyn judge --prompt-file``, ``judge_prompt:`` in the run
config) replaces both messages with one user message rendered from that file — for a judge
fine-tuned on another prompt, such as the public SynJudge prompt, which one supplies oneself.
No schema is sent then (the prompt says what format to answer in) and the reply is read by the
same parse-safe parser, which reads the public prompt's bracketed line. The file sees:

==================  ==============================================================
``question``        the question of the turn to score
``answer``          its answer text ("" when there is none; ``has_text`` says so)
``has_text``        whether there is answer text
``has_image``       whether an image is attached (or described, in caption-proxy mode)
``image_note``      how the image is given ("attached below.", a caption, or "none (…)")
``history``         earlier turns: each has ``question``, ``answer``, ``image_note``
``rubric``          the rubric as text; ``rules``: its hard rules (a list)
``dimensions``      the rubric's dimensions in order: ``key``, ``name``, ``question``, ``levels``
==================  ==============================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from intersyn._prompt_files import (
    get_template,
    prompt_environment,
    render,
    shipped_prompts_dir,
    template_from_file,
)
from intersyn.errors import ConfigError
from intersyn.judge.items import ImageLoad, JudgeItem
from intersyn.judge.parse import SCORE_SCHEMA
from intersyn.judge.rubric import Rubric
from intersyn.models.base import ChatMessage

_NAMES = ("system", "format_json", "turn", "history", "repair")
#: The repair request sent when a user's prompt file is in use (it asked for its own format).
_OWN_FORMAT_REPAIR = "repair_own_format"


@dataclass(frozen=True)
class JudgePrompts:
    """The judge's templates; ``own`` is a user's prompt file that replaces system and turn."""

    system: jinja2.Template
    format_json: jinja2.Template
    turn: jinja2.Template
    history: jinja2.Template
    repair: jinja2.Template
    own: jinja2.Template | None = None
    #: ``name@sha256[:12]`` of the user's prompt file ("" for the shipped prompts): part of
    #: what makes a judgement set, so replies to different prompts are never mixed.
    label: str = ""

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema sent with each request: the four scores, or none for a user's
        prompt (it asks for its own format, e.g. the public prompt's bracketed line)."""
        return None if self.own is not None else SCORE_SCHEMA


def load_prompts(
    prompts_dir: str | Path | None = None, *, prompt_file: str | Path | None = None
) -> JudgePrompts:
    """The judge's templates: ``judge_<name>.j2`` from ``prompts_dir`` or the shipped folder,
    and, with ``prompt_file``, the user's own prompt (see the module docstring)."""
    search: list[str | Path] = []
    if prompts_dir is not None:
        if not Path(prompts_dir).is_dir():
            raise ConfigError(f"{prompts_dir}: not a folder of judge prompt templates")
        search.append(prompts_dir)
    search.append(shipped_prompts_dir())
    # Keep each file's final newline: the messages are assembled from the pieces as written.
    env = prompt_environment(search, keep_trailing_newline=True)
    parts = {name: get_template(env, f"judge_{name}.j2") for name in _NAMES}
    own: jinja2.Template | None = None
    label = ""
    if prompt_file is not None:
        own = template_from_file(env, prompt_file)
        digest = hashlib.sha256(Path(prompt_file).read_bytes()).hexdigest()[:12]
        label = f"{Path(prompt_file).name}@{digest}"
        parts["repair"] = get_template(env, f"judge_{_OWN_FORMAT_REPAIR}.j2")
    return JudgePrompts(
        system=parts["system"],
        format_json=parts["format_json"],
        turn=parts["turn"],
        history=parts["history"],
        repair=parts["repair"],
        own=own,
        label=label,
    )


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
    """System (rubric, rules, output format) + the turn to judge with its history; or, with a
    user's prompt file, one user message rendered from it."""
    images = [image.data] if (vision and image.data is not None) else []
    note = image_note(item, image, vision)
    if prompts.own is not None:
        text = render(
            prompts.own,
            question=item.question,
            answer=item.answer,
            has_text=bool(item.answer.strip()),
            has_image=image.data is not None,
            image_note=note,
            history=item.history,
            rubric=rubric.render(),
            rules=list(rubric.rules),
            dimensions=rubric.ordered(),
        )
        return [ChatMessage("user", text, images=images)]
    system = render(
        prompts.system,
        rubric=rubric.render(),
        rules="\n".join(f"- {r}" for r in rubric.rules),
        output_format=render(prompts.format_json),
    )
    history = "".join(
        render(
            prompts.history,
            number=i + 1,
            question=h.question,
            answer=h.answer or "(none)",
            image_note=h.image_note,
        )
        for i, h in enumerate(item.history)
    )
    user = render(
        prompts.turn,
        history=history,
        question=item.question,
        answer=item.answer if item.answer.strip() else "(no answer text)",
        image_note=note,
    )
    return [ChatMessage("system", system), ChatMessage("user", user, images=images)]


def repair_messages(
    messages: list[ChatMessage], reply: str, error: str, prompts: JudgePrompts
) -> list[ChatMessage]:
    """The one repair request: the conversation, the unreadable reply, and what was wrong."""
    return [
        *messages,
        ChatMessage("assistant", reply),
        ChatMessage("user", render(prompts.repair, error=error)),
    ]
