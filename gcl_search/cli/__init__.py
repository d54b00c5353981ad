"""`gcl-search` command line: a click group whose commands live one per module in this package.

Commands are imported lazily so `gcl-search evaluate --help` does not pay for torch. Library errors
(`GclSearchError`) are translated here, in one place, into a one-line message and exit status 1.
"""

from __future__ import annotations

import importlib

import click

from gcl_search.errors import GclSearchError

# command name -> "module:attribute"; one line per command.
COMMANDS: dict[str, str] = {
    "evaluate": "gcl_search.cli.evaluate:evaluate_command",
    "index": "gcl_search.cli.index:index_group",
    "ingest": "gcl_search.cli.ingest:ingest_command",
    "search": "gcl_search.cli.search:search_command",
    "train": "gcl_search.cli.train:train_command",
    "triples": "gcl_search.cli.triples:triples_command",
    "tune": "gcl_search.cli.tune:tune_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GclSearchError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(str(err)) from err


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for library errors.")
@click.version_option(package_name="gcl-search")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train encoders on graded relevance (GCL), index multi-field vectors, search, and evaluate."""
    ctx.obj = {"debug": debug}
