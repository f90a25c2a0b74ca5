"""Every clean-up in one place: containers of dead runs, dead claims, orphaned clones and agents,
and retention of old run folders."""
