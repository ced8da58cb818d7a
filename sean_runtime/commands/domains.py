"""Domain-level commands of the `sean` CLI (no torch)."""

from __future__ import annotations

import click

from sean_core.command import SeanCommand
from sean_core.domains import DomainError, available_domains, get_domain, prepare_command
from sean_core.interrupts import stopped, stopped_saying


@click.command(cls=SeanCommand)
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
        extra = f" + {domain.extra_mask_channels} extra mask channel(s)" if domain.extra_mask_channels else ""
        click.echo(f"{name}: {domain.num_classes} classes{extra}, {w}x{h}, layout {domain.layout}")


@click.command(cls=SeanCommand)
@click.argument("domain_name", metavar="DOMAIN")
@click.argument("raw_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
def prepare(domain_name: str, raw_dir: str, out_dir: str) -> None:
    """Convert a raw dataset release into the prepared layout (resumable: run it again to finish;
    faces that cannot be used are left out and listed in OUT/left-out.txt).

    \b
    Example:
      sean prepare faces ~/data/CelebAMask-HQ -o ~/data/faces
    """
    domain = get_domain(domain_name)
    prepare_fn = getattr(domain, "prepare", None)
    if prepare_fn is None:
        if callable(getattr(domain, "write_split", None)):  # a domain that generates its samples
            raise click.ClickException(
                f"domain {domain_name!r} draws its own samples: there is no dataset to prepare (training "
                f"generates them; `sean demo` writes some as files)"
            )
        raise click.ClickException(
            f"domain {domain_name!r} needs no preparation: pass the dataset folder to training as it is"
        )
    # What is written so far is whole files (each written atomically), and UNFINISHED.txt marks the folder
    # until a run completes: the same command finishes it.
    line = f"{stopped('prepare')}; run `{prepare_command(domain_name, raw_dir, out_dir)}` to finish it"
    with stopped_saying(lambda: line):
        result = prepare_fn(raw_dir, out_dir)
    summary = ", ".join(f"{count} {what}" for what, count in result.items()) if isinstance(result, dict) else ""
    click.echo(f"{domain_name}: prepared layout in {out_dir}" + (f" ({summary})" if summary else ""))
