"""Discovery of domain plugins through the `sean.domains` entry-point group.

Entry points are re-read on every call (a scan of the installed distributions' metadata, milliseconds),
so a plugin installed while a process runs is found; only loaded Domain instances are cached.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from sean_core.domains.base import Domain
from sean_core.errors import DomainError

GROUP = "sean.domains"


def _provider(ep: EntryPoint) -> str:
    """'module:Class (from distribution)' for error messages."""
    dist = getattr(ep, "dist", None)
    return f"{ep.value} (from {dist.name})" if dist is not None else ep.value


def _entry_points() -> dict[str, list[EntryPoint]]:
    """name -> the distinct entry points registered under it (one unless two plugins clash).

    The same target found twice (one distribution visible on two sys.path entries) is not a clash.
    """
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        claims = found.setdefault(ep.name, [])
        if all(previous.value != ep.value for previous in claims):
            claims.append(ep)
    return found


def available_domains() -> list[str]:
    """Names of the installed domains (a clashing name is listed once; get_domain reports the clash)."""
    return sorted(_entry_points())


@cache
def _load(name: str, target: str) -> Domain:
    ep = EntryPoint(name=name, value=target, group=GROUP)
    try:
        obj = ep.load()
    except Exception as exc:
        raise DomainError(f"domain plugin {name!r} ({target}) failed to import: {exc}") from exc
    domain = obj() if isinstance(obj, type) else obj
    if not isinstance(domain, Domain):
        raise DomainError(f"domain plugin {name!r} ({target}) is not a sean_core.domains.Domain")
    if domain.name != name:
        raise DomainError(f"domain plugin registered as {name!r} calls itself {domain.name!r}")
    if len(domain.palette) < domain.num_classes:
        raise DomainError(f"domain {name!r}: palette has fewer colours than its {domain.num_classes} classes")
    return domain


def get_domain(name: str) -> Domain:
    """The domain registered under `name`; an unknown name lists the known ones, a clash names both plugins."""
    eps = _entry_points()
    claims = eps.get(name)
    if not claims:
        known = ", ".join(sorted(eps)) or "none"
        raise DomainError(
            f"unknown domain {name!r}; installed domains: {known}; a domain of another package is found once "
            f"that package is installed here (its entry point in the group 'sean.domains', docs/plugins.md)"
        )
    if len(claims) > 1:
        providers = " and ".join(_provider(ep) for ep in claims)
        raise DomainError(
            f"two plugins claim the domain name {name!r}: {providers}; uninstall one of them "
            f"(or rename the entry point in its pyproject.toml)"
        )
    return _load(name, claims[0].value)
