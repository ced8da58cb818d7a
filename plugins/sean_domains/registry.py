"""Discovery of domain plugins through the `sean.domains` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from sean_domains.domain import Domain, DomainError

GROUP = "sean.domains"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        previous = found.get(ep.name)
        if previous is not None and previous.value != ep.value:
            raise DomainError(
                f"two plugins claim the domain name {ep.name!r}: {previous.value} and {ep.value}; "
                f"uninstall one of them"
            )
        found[ep.name] = ep
    return found


def available_domains() -> list[str]:
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
        raise DomainError(f"domain plugin {name!r} ({target}) is not a sean_domains.Domain")
    if domain.name != name:
        raise DomainError(f"domain plugin registered as {name!r} calls itself {domain.name!r}")
    if len(domain.palette) < domain.num_classes:
        raise DomainError(f"domain {name!r}: palette has fewer colours than its {domain.num_classes} classes")
    return domain


def get_domain(name: str) -> Domain:
    """The domain registered under `name`; an unknown name lists the known ones."""
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise DomainError(f"unknown domain {name!r}; installed domains: {known}")
    return _load(name, eps[name].value)
