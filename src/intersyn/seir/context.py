"""What a sample needs to be made: the model gate, the store, settings, prompts, templates.

:class:`SeirContext` is built once per process (local engine) or once per worker (Ray engine)
and shared by every sample made there; :class:`TurnContext` is the per-turn view a stage sees
(sample id and seed, turn index, topic, history).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from intersyn.config import SeirConfig
from intersyn.data.store import RunStore
from intersyn.errors import ParseError
from intersyn.models.base import ChatMessage, ChatResult
from intersyn.models.gate import CacheMode, Models
from intersyn.schema import ImageRef, TopicPath, Turn
from intersyn.seir.checks import SampleFailed
from intersyn.seir.parse import excerpt
from intersyn.seir.prompts import Prompts
from intersyn.seir.seeds import derive_seed
from intersyn.seir.topics import Templates

T = TypeVar("T")


@dataclass
class TurnContext:
    """One turn of one sample, as the stages see it."""

    sample_id: str
    seed: int
    turn: int
    topic: TopicPath
    history: Sequence[Turn] = ()
    #: Final image bytes of earlier turns (shown to vision models only).
    history_images: Sequence[bytes] = ()

    def variables(self, settings: SeirConfig) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "turn": self.turn,
            "history": [
                {"question": h.question, "answer": h.answer, "caption": h.caption}
                for h in self.history
            ],
            "max_words": settings.max_question_words,
            "max_caption_words": settings.max_caption_words,
        }


@dataclass
class SeirContext:
    models: Models
    store: RunStore
    settings: SeirConfig
    prompts: Prompts
    templates: Templates
    fingerprint: str
    #: Serialises file writes off the event loop (the journal has one writer).
    _io_lock: asyncio.Lock | None = field(default=None, repr=False)

    # -- model calls ------------------------------------------------------------------------
    async def ask(
        self,
        tc: TurnContext,
        role: str,
        prompt: str,
        variables: dict[str, Any],
        *,
        system: str,
        schema: dict[str, Any] | None,
        purpose: str,
        images: Sequence[bytes] = (),
        cache: CacheMode = True,
    ) -> ChatResult:
        """Render ``prompt`` with the turn's variables and send it to ``role`` via the gate.

        Vision models also get the history's images (and ``images``); text models none.
        The call seed is derived from (sample seed, turn, purpose): reruns repeat it.
        """
        text = self.prompts.render(prompt, **tc.variables(self.settings), **variables)
        shown = [*tc.history_images, *images] if self.models.vision(role) else []
        messages = [
            ChatMessage("system", self.prompts.render(system)),
            ChatMessage("user", text, list(shown)),
        ]
        return await self.models.chat(
            role,
            messages,
            schema=schema,
            seed=derive_seed(tc.seed, tc.turn, purpose),
            sample_id=tc.sample_id,
            cache=cache,
        )

    async def ask_parsed(
        self,
        tc: TurnContext,
        role: str,
        prompt: str,
        variables: dict[str, Any],
        *,
        parser: Callable[[str], T],
        schema: dict[str, Any],
        purpose: str,
        what: str,
        system: str = "system_writer",
    ) -> T:
        """Ask, parse; on a parse failure send one repair request; then fail the sample.

        A reply cut off by the token limit (``finish_reason: length``) is a parse failure
        even when its text happens to read: no field is ever taken from a cut reply."""

        def read(result: ChatResult) -> T:
            if result.finish_reason == "length":
                raise ParseError(
                    "the reply was cut off by the token limit (finish_reason=length): "
                    f"{excerpt(result.text)}"
                )
            return parser(result.text)

        reply = await self.ask(
            tc, role, prompt, variables, system=system, schema=schema, purpose=purpose
        )
        try:
            return read(reply)
        except ParseError as first:
            fmt = _format_hint(schema)
            repair = {
                "reply": reply.text[:4000],
                "problem": str(first),
                "format": fmt,
                "cut": reply.finish_reason == "length",
            }
            again = await self.ask(
                tc,
                role,
                "repair",
                repair,
                system=system,
                schema=schema,
                purpose=purpose + ".repair",
            )
            try:
                return read(again)
            except ParseError as second:
                problem = second
                if again.usage.cached:
                    # A cached repair that was unusable (a --retry-failed rerun): ask the
                    # model again instead of replaying it; the new reply replaces the entry.
                    again = await self.ask(
                        tc,
                        role,
                        "repair",
                        repair,
                        system=system,
                        schema=schema,
                        purpose=purpose + ".repair",
                        cache="refresh",
                    )
                    try:
                        return read(again)
                    except ParseError as third:
                        problem = third
                raise SampleFailed(
                    f"{what}: the writer's reply could not be read, even after "
                    f"one repair request ({problem}); first reply {excerpt(reply.text)}"
                ) from None

    # -- images -----------------------------------------------------------------------------
    async def paint(self, tc: TurnContext, caption: str, render: int) -> tuple[ImageRef, bytes]:
        """Render ``caption`` (render number ``render`` of the turn) and store it durably.

        Images are named ``t{turn}_r{render}``: never overwritten, one file per render.
        """
        seed = derive_seed(tc.seed, tc.turn, "image", render)
        pic = await self.models.paint(
            "painter",
            caption,
            size=tuple(self.settings.image_size),  # type: ignore[arg-type]
            seed=seed,
            sample_id=tc.sample_id,
        )
        ref = await asyncio.to_thread(
            self.store.put_image,
            tc.sample_id,
            f"t{tc.turn}_r{render}",
            pic.image,
            seed=seed,
            preview=pic.preview,
            painter=pic.painter or self.models.model_name("painter"),
        )
        return ref, pic.image

    async def commit(self, sample: Any) -> None:
        """Make a finished sample durable (off the event loop, one writer at a time)."""
        if self._io_lock is None:
            self._io_lock = asyncio.Lock()
        async with self._io_lock:
            await asyncio.to_thread(self.store.commit, sample)

    async def fail(self, sample_id: str, reason: str, **info: Any) -> None:
        if self._io_lock is None:
            self._io_lock = asyncio.Lock()
        async with self._io_lock:
            await asyncio.to_thread(self.store.fail, sample_id, reason, **info)

    # -- roles ------------------------------------------------------------------------------
    def inspector(self) -> tuple[str, str]:
        """(role, mode): the inspector if configured, else the critic; mode says if it sees.

        ``vision`` when the role's model accepts images, else ``caption-proxy`` (the critic
        judges the caption text the image was drawn from, and every round records it).
        """
        role = "inspector" if self.models.has("inspector") else "critic"
        return role, ("vision" if self.models.vision(role) else "caption-proxy")


def _format_hint(schema: dict[str, Any]) -> str:
    props = schema.get("properties", {})
    parts = []
    for name, spec in props.items():
        kind = spec.get("type")
        sample = {"string": '"..."', "boolean": "true or false", "array": '["...", ...]'}
        parts.append(f'"{name}": {sample.get(kind, "...")}')
    return "{" + ", ".join(parts) + "}"
