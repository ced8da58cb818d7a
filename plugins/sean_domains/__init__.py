"""The built-in domain plugins: shapes (synthetic), faces (CelebAMask-HQ), ade20k, cityscapes.

Each registers itself under the `sean.domains` entry-point group (pyproject.toml), exactly as a
third-party plugin does; the interface they implement is sean_core.domains.Domain.
"""
