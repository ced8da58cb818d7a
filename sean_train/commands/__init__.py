"""Click commands of the `sean` CLI that need torch (listed in sean_train/subcommands.py), and what they share."""

import click

# --no-verify of the commands that load checkpoint weights (export, eval).
no_verify_option = click.option(
    "--no-verify", is_flag=True,
    help="Load weights whose sha256 cannot be checked (a config.json without one). Only for trusted files.",
)
