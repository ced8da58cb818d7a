"""The `sean` command: one click group whose subcommands each layer registers and that are imported only when run.

A layer lists its subcommands in a table (name -> CommandEntry) named by an entry point of the group
`sean.commands` (pyproject.toml), so this base names no layer above it. `sean --help` reads the tables
alone; `sean synth` therefore never loads torch, and `sean train` loads it only when it runs. A
subcommand whose extra is not installed says which extra to install.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import NamedTuple

import click

from sean_core.command import missing_dependency

GROUP = "sean.commands"


class CommandEntry(NamedTuple):
    target: str  # "module:attribute" of the click command
    extra: str  # the extra that provides what it imports
    help: str  # one line shown by `sean --help`


@cache
def all_commands() -> dict[str, CommandEntry]:
    """Every registered subcommand by name; two layers registering one name is a packaging error."""
    commands: dict[str, CommandEntry] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        for name, entry in point.load().items():
            if name in commands:
                raise RuntimeError(f"`sean {name}` is registered twice (entry point {point.name} of {GROUP})")
            commands[name] = CommandEntry(*entry)
    return commands


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(all_commands())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = all_commands().get(name)
        if entry is None:
            return None
        module_name, attr = entry.target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise missing_dependency(name, exc) from exc
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, all_commands()[name].help) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sean-deploy")
def main() -> None:
    """SEAN: semantic image synthesis with a separate style for every region.

    \b
    Example, from nothing to images in one command:
      sean demo -o demo-out
    """


if __name__ == "__main__":
    main()
