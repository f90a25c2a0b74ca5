"""The task queue on disk: task files (parse, validate), the folders they move through, claims
and their owners' liveness, and the store that moves files (never deleting one)."""
