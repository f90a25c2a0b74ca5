"""The per-task workspace in git: the task's clone, its commit, fetching the result branch into
the user's repository, and integration (branch, merge, patch). The user's checkout is never
touched."""
