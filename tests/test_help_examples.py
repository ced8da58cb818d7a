"""Every path a `--help` example names is one that a documented command creates (or that ships, or that
the user downloads), so that a newcomer can run the examples in order."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import click
from click.testing import CliRunner

from sean_core.cli import all_commands, main

REPO = Path(__file__).resolve().parents[1]
# What the user brings: the raw CelebAMask-HQ download and the official SEAN release.
DOWNLOADS = ("~/data/CelebAMask-HQ", "checkpoints/CelebA-HQ_pretrained/latest_net_G.pth")
OUTPUT_OPTIONS = ("-o", "--out", "--json")


def help_texts() -> list[str]:
    return [CliRunner().invoke(main, [name, "--help"]).output for name in sorted(all_commands())]


def example_commands() -> list[list[str]]:
    """The example command lines of every subcommand's help, continuation lines joined, as tokens."""
    commands = []
    for text in help_texts():
        pending = ""
        for line in text.splitlines():
            stripped = line.strip()
            if pending or re.match(r"^\s{4,}(sean|torchrun) ", line):
                pending += " " + stripped.split("  #")[0].rstrip("\\")
                if not stripped.endswith("\\"):
                    commands.append(pending.split())
                    pending = ""
    return commands


def made_by_an_example(commands: list[list[str]]) -> Callable[[str], bool]:
    """Whether a path is written by one of these example commands (its -o / --out / --json, or a file a
    shell line of a help writes with `> FILE`)."""
    outputs = {tokens[i + 1].rstrip("/") for tokens in commands for i, t in enumerate(tokens[:-1])
               if t in OUTPUT_OPTIONS}  # fmt: skip
    outputs |= {name for text in help_texts() for name in re.findall(r"^\s{4,}\S.* > (\S+)", text, re.M)}
    # Files inside an output folder count only for `sean demo`, which documents DIR/package and
    # DIR/inputs/<split>/{labels,images}/.
    folders = {tokens[i + 1].rstrip("/") for tokens in commands for i, t in enumerate(tokens[:-1])
               if tokens[1] == "demo" and t in OUTPUT_OPTIONS}  # fmt: skip
    return lambda value: value in outputs or any(
        value == f"{folder}/package" or value.startswith(f"{folder}/inputs/") for folder in folders)


def test_every_path_in_a_help_example_is_created_by_another_example_ships_or_is_downloaded():
    commands = example_commands()
    assert len(commands) >= 20
    made = made_by_an_example(commands)
    missing = []
    for tokens in commands:
        for i, token in enumerate(tokens):
            value = token.split("=", 1)[-1].split(":")[0].rstrip("/")
            if "/" not in value or value.startswith("-") or (i and tokens[i - 1] in OUTPUT_OPTIONS):
                continue
            if not (made(value) or value in DOWNLOADS or (REPO / value).exists()):
                missing.append(f"{value} (in: {' '.join(tokens)})")
    assert not missing, "help examples name paths no documented command creates:\n" + "\n".join(missing)


def test_every_file_an_example_passes_to_an_option_that_reads_one_is_made_by_a_help_line_or_an_example():
    # `sean serve --help` passed `--api-key-file key.txt`, a file nothing made: the example ended at
    # "File 'key.txt' does not exist".
    commands = example_commands()
    made = made_by_an_example(commands)
    context = click.Context(main)
    missing = []
    for tokens in commands:
        command = main.get_command(context, tokens[1]) if tokens[0] == "sean" else None
        reading = {opt for param in (command.params if command else ()) if isinstance(param, click.Option)
                   and isinstance(param.type, click.Path) and param.type.exists for opt in param.opts}  # fmt: skip
        for option, value in itertools.pairwise(tokens):
            if option in reading and not (made(value) or value in DOWNLOADS or (REPO / value).exists()):
                missing.append(f"{option} {value} (in: {' '.join(tokens)})")
    assert not missing, "help examples pass files that no help line or example makes:\n" + "\n".join(missing)


def test_the_helps_name_every_shipped_model_and_config():
    from sean_core.shipped import shipped_configs, shipped_models

    models, configs = ", ".join(shipped_models()), ", ".join(shipped_configs())
    for name in sorted(all_commands()):
        text = " ".join(CliRunner().invoke(main, [name, "--help"]).output.split())
        for listed in re.findall(r"shipped model \(([^)]*)\)", text):
            assert listed == models, (name, listed)
        for listed in re.findall(r"shipped config by name: ([a-z0-9, ]+)", text):
            assert listed == configs, (name, listed)


def test_the_helps_of_data_name_every_domain_that_generates_its_samples():
    # `sean train --help` named shapes alone, though landscapes trains without --data too
    from sean_domains.generated import GeneratedDomain

    from sean_core.domains import available_domains, get_domain

    generated = [name for name in available_domains() if isinstance(get_domain(name), GeneratedDomain)]
    assert generated
    for command in ("train", "eval"):
        text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
        data_help = re.search(r"--data DIRECTORY (.*?) --", text).group(1)
        assert all(name in data_help for name in generated), (command, data_help)
