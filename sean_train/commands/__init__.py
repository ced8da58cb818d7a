"""Click commands of the `sean` CLI that need torch (imported lazily by sean_runtime.cli)."""
