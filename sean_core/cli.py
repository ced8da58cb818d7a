"""The `sean` command: one click group whose subcommands each layer registers and that are imported only when run.

A layer lists its subcommands in a table (name -> CommandEntry) named by an entry point of the group
`sean.commands` (pyproject.toml), so this base names no layer above it. `sean --help` reads the tables
alone; `sean synth` therefore never loads torch, and `sean train` loads it only when it runs. A
subcommand whose extra is not installed says which extra to install.

SIGTERM and SIGHUP raise KeyboardInterrupt from the moment the group runs, as Ctrl-C does, so that a
command's cleanup runs whenever the signal comes (during the imports of a command too); a server's
(`CommandEntry.server`) stop before it serves ends it with one line and exit 0.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import NamedTuple

import click

from sean_core.interrupts import stop_said_by_parent, stopped_before_serving, stopped_on_sigterm

GROUP = "sean.commands"
COMMAND_KEY = "sean.command"  # ctx.meta: the subcommand being resolved or run


class CommandEntry(NamedTuple):
    target: str  # "module:attribute" of the click command
    extra: str  # the extra that provides what it imports
    help: str  # one line shown by `sean --help`
    server: bool = False  # runs until stopped: a stop signal at any moment, start-up included, is its normal end


@cache
def all_commands() -> dict[str, CommandEntry]:
    """Every registered subcommand by name; two layers registering one name is a packaging error."""
    from importlib.metadata import entry_points  # here, not at the top: see missing_dependency in get_command

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
        ctx.meta[COMMAND_KEY] = name
        module_name, attr = entry.target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # imported here, not at the top: every module imported before main() runs widens the moment in
            # which a SIGTERM still ends the process as the signal's default does (status 143)
            from sean_core.command import missing_dependency

            raise missing_dependency(name, exc) from exc
        return getattr(module, attr)

    def main(self, *args, **kwargs):  # type: ignore[override]
        with stopped_on_sigterm():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            name = ctx.meta.get(COMMAND_KEY)
            if name is None or not all_commands()[name].server:
                if stop_said_by_parent():
                    ctx.exit(1)  # click's "Aborted!" would follow the parent's line
                raise
            click.echo(stopped_before_serving(name), err=True)
            ctx.exit(0)

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
