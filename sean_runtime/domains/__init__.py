"""The domain-plugin interface under the name README and docs/plugins.md have always documented.

`sean_core.domains` owns it; third-party plugins written against `sean_runtime.domains` keep working.
This module re-exports exactly its public names.
"""

from sean_core.domains import *  # noqa: F403
from sean_core.domains import __all__  # noqa: F401
