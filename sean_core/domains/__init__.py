"""The domain-plugin interface: the Domain base class and discovery through the `sean.domains` entry points.

Plugins (the built-in `sean_domains` package and third-party ones) import from here; the runtime, the
trainer and the exporter reach concrete domains only through `get_domain(name)`.
"""

from sean_core.domains.base import (
    Domain,
    SamplePair,
    check_finished,
    dataset_below,
    dataset_files,
    is_junk,
    leaving_out_unpaired,
    natural_key,
    pair_by_stem,
    prepare_command,
    preparing,
    require_folders,
    wrong_root,
)
from sean_core.domains.registry import GROUP, available_domains, get_domain
from sean_core.errors import DatasetError, DomainError, LabelError

__all__ = [
    "GROUP",
    "DatasetError",
    "Domain",
    "DomainError",
    "LabelError",
    "SamplePair",
    "available_domains",
    "check_finished",
    "dataset_below",
    "dataset_files",
    "get_domain",
    "is_junk",
    "leaving_out_unpaired",
    "natural_key",
    "pair_by_stem",
    "prepare_command",
    "preparing",
    "require_folders",
    "wrong_root",
]
