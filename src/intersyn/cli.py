"""The ``intersyn`` command: thin; every subcommand lives beside the concept it runs.

Subcommands are imported lazily so ``intersyn --help`` is fast and an optional extra
(ray, diffusers, llama.cpp) is only needed by the command that uses it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from intersyn import __version__
from intersyn.errors import IntersynError

#: name → "module:attribute" of a click command or group.
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": (
        "intersyn.seir.commands:quickstart",
        "Offline demo: a small SEIR run, judged, with a report.",
    ),
    "generate": ("intersyn.seir.commands:generate", "Generate interleaved samples with SEIR."),
    "topics": ("intersyn.seir.commands:topics", "Show, count or expand the topic hierarchy."),
    "judge": ("intersyn.judge.commands:judge", "Score answers on TCC, ICC, IQ and ITS."),
    "summary": (
        "intersyn.judge.commands:summary",
        "Summarise a judgement set (means, CIs, breakdowns).",
    ),
    "agree": ("intersyn.judge.commands:agree", "Agreement of judges with human ratings."),
    "import-scores": (
        "intersyn.judge.import_commands:import_scores",
        "Import the reference judge's score lines as a judgement set.",
    ),
    "stats": ("intersyn.data.commands:stats", "Statistics of a dataset."),
    "validate": ("intersyn.data.commands:validate", "Check a dataset: schema, ids, images, files."),
    "export": ("intersyn.data.commands:export", "Export a dataset to another format."),
    "import": ("intersyn.data.commands:import_", "Import a dataset from another format."),
    "finalize": ("intersyn.data.commands:finalize", "Write a run directory's Parquet shards."),
    "view": ("intersyn.report.commands:view", "Build a static HTML viewer for a dataset."),
    "serve": ("intersyn.report.commands:serve", "Serve a built site on 127.0.0.1."),
    "report": ("intersyn.report.commands:report", "HTML report of a judged dataset or benchmark."),
    "bench": ("intersyn.report.commands:bench", "Benchmark interleaved generators with SynJudge."),
    "leaderboard": ("intersyn.report.commands:leaderboard", "Leaderboard from benchmark results."),
    "annotate": (
        "intersyn.annotate.commands:annotate",
        "Collect human ratings in a local web app.",
    ),
    "models": (
        "intersyn.models.commands:models",
        "Check endpoints, usage, cache, the scripted server.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("intersyn"):
                return _unavailable(cmd_name, target[1], f"not built yet ({e.name} missing)")
            return _unavailable(cmd_name, target[1], f"needs the Python package {e.name!r}")
        command: Any = getattr(module, attr)
        return command  # type: ignore[no-any-return]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IntersynError as e:
            # Errors we raise on purpose are messages for the user, not tracebacks.
            raise click.ClickException(str(e)) from e

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every module.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, help_text: str, why: str) -> click.Command:
    @click.command(
        name=name,
        help=f"{help_text} (unavailable: {why})",
        context_settings={"ignore_unknown_options": True},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"`intersyn {name}` is unavailable: {why}")

    return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="intersyn")
def cli() -> None:
    """intersyn — build interleaved image–text data with SEIR and judge it with SynJudge.

    \b
    Start here:   intersyn quickstart
    Generate:     intersyn generate --config run.yaml --out runs/a -n 100
    Judge:        intersyn judge runs/a --config judge.yaml --out runs/a-judged
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="intersyn")


if __name__ == "__main__":
    main()
