"""Domain plugins for SEAN: classes, palettes, label I/O and dataset layouts (numpy + OpenCV only).

Domains are discovered through the entry-point group `sean.domains`; the built-in ones register
the same way a third-party package does.
"""

from sean_domains.domain import DatasetError, Domain, DomainError, LabelError, SamplePair
from sean_domains.registry import available_domains, get_domain

__all__ = [
    "DatasetError",
    "Domain",
    "DomainError",
    "LabelError",
    "SamplePair",
    "available_domains",
    "get_domain",
]
