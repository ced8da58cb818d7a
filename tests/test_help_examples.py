"""Every path a `--help` example names is one that a documented command creates (or that ships, or that
the user downloads), so that a newcomer can run the examples in order."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from sean_core.cli import all_commands, main

REPO = Path(__file__).resolve().parents[1]
# What the user brings: the raw CelebAMask-HQ download and the official SEAN release.
DOWNLOADS = ("~/data/CelebAMask-HQ", "checkpoints/CelebA-HQ_pretrained/latest_net_G.pth")
OUTPUT_OPTIONS = ("-o", "--out", "--json")


def example_commands() -> list[list[str]]:
    """The example command lines of every subcommand's help, continuation lines joined, as tokens."""
    commands = []
    for name in sorted(all_commands()):
        text = CliRunner().invoke(main, [name, "--help"]).output
        pending = ""
        for line in text.splitlines():
            stripped = line.strip()
            if pending or re.match(r"^\s{4,}(sean|torchrun) ", line):
                pending += " " + stripped.split("  #")[0].rstrip("\\")
                if not stripped.endswith("\\"):
                    commands.append(pending.split())
                    pending = ""
    return commands


def test_every_path_in_a_help_example_is_created_by_another_example_ships_or_is_downloaded():
    commands = example_commands()
    assert len(commands) >= 20
    outputs = {tokens[i + 1].rstrip("/") for tokens in commands for i, t in enumerate(tokens[:-1])
               if t in OUTPUT_OPTIONS}  # fmt: skip
    # Files inside an output folder count only for `sean demo`, which documents DIR/package and
    # DIR/inputs/<split>/{labels,images}/.
    folders = {tokens[i + 1].rstrip("/") for tokens in commands for i, t in enumerate(tokens[:-1])
               if tokens[1] == "demo" and t in OUTPUT_OPTIONS}  # fmt: skip
    missing = []
    for tokens in commands:
        for i, token in enumerate(tokens):
            value = token.split("=", 1)[-1].split(":")[0].rstrip("/")
            if "/" not in value or value.startswith("-") or (i and tokens[i - 1] in OUTPUT_OPTIONS):
                continue
            made = value in outputs or any(value == f"{folder}/package" or value.startswith(f"{folder}/inputs/")
                                           for folder in folders)
            if not (made or value in DOWNLOADS or (REPO / value).exists()):
                missing.append(f"{value} (in: {' '.join(tokens)})")
    assert not missing, "help examples name paths no documented command creates:\n" + "\n".join(missing)


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
