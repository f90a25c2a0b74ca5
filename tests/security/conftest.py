"""Fixtures of the hostile-agent suite (the harness is in hostile_support.py)."""

from hostile_support import docker_ready, scene

__all__ = ["docker_ready", "scene"]
