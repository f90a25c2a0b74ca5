"""Orchestra: AI coding agents as sandboxed workers against a git repository, on Prefect."""

__version__ = "0.1.0"
