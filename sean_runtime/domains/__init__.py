"""The domain-plugin interface under the name README and docs/plugins.md have always documented.

`sean_core.domains` owns it; third-party plugins written against `sean_runtime.domains` keep working.
"""

from sean_core.domains import (
    GROUP,
    DatasetError,
    Domain,
    DomainError,
    LabelError,
    SamplePair,
    available_domains,
    dataset_below,
    get_domain,
    natural_key,
    pair_by_stem,
    require_folders,
    wrong_root,
)

__all__ = [
    "GROUP",
    "DatasetError",
    "Domain",
    "DomainError",
    "LabelError",
    "SamplePair",
    "available_domains",
    "dataset_below",
    "get_domain",
    "natural_key",
    "pair_by_stem",
    "require_folders",
    "wrong_root",
]
