"""The base every layer shares, numpy-only and torch-free: the package format, the error family, file
and image IO, the portable noise rule, the domain-plugin interface, install hints, the data shipped in
the distribution, and the `sean` command's group, which each layer fills through entry points.
"""
