"""Domain-level commands of the `sean` CLI (no torch)."""

from __future__ import annotations

import click

from sean_domains.domain import DomainError
from sean_domains.registry import available_domains, get_domain


@click.command()
def domains() -> None:
    """List the installed domain plugins with their classes and resolution.

    \b
    Example:
      sean domains
    """
    for name in available_domains():
        try:
            domain = get_domain(name)
        except DomainError as exc:
            click.echo(f"{name}: broken plugin: {exc}")
            continue
        h, w = domain.resolution
        click.echo(f"{name}: {domain.num_classes} classes, {w}x{h}, layout {domain.layout}")


@click.command()
@click.argument("domain_name", metavar="DOMAIN")
@click.argument("raw_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
def prepare(domain_name: str, raw_dir: str, out_dir: str) -> None:
    """Convert a raw dataset release into the prepared layout (resumable).

    \b
    Example:
      sean prepare faces ~/data/CelebAMask-HQ -o ~/data/faces-prepared
    """
    domain = get_domain(domain_name)
    prepare_fn = getattr(domain, "prepare", None)
    if prepare_fn is None:
        raise click.ClickException(f"domain {domain_name!r} needs no preparation: point --data at the release")
    prepare_fn(raw_dir, out_dir)
