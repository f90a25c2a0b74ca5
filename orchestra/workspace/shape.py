"""Repository shapes a task clone cannot serve faithfully, refused in preflight with the reason.

A task's work tree is checked out from the user's objects by a git that reads no global or
system config and runs no filters (clone.py). That is exact for ordinary repositories, but:

- **submodules** would check out as empty folders, and an agent's change inside one could
  not be committed (the host records gitlinks, never nested repositories' content);
- **Git LFS** files would be the pointer files, and the `lfs` filter is not run on the host
  (it reads the agent-controlled `.lfsconfig`), so an agent would edit pointers;
- **partial clones** lack blobs that only a lazy fetch from the promisor remote could bring,
  which a task's git dir cannot do.

So each is refused before anything is claimed, naming what was found and the way out.
"""

from __future__ import annotations

from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.git import git


def unsupported_shape(project: Path, base: str) -> str | None:
    """Why tasks cannot run on ``base`` of ``project`` (submodules, LFS, partial clone), or None."""
    partial = git(project, "config", "--get", "extensions.partialClone", check=False)
    promisors = git(project, "config", "--get-regexp", r"^remote\..*\.promisor$", check=False)
    if partial or any(line.endswith(" true") for line in promisors.splitlines()):
        return (
            f"project {str(project)!r} is a partial clone (promisor remote "
            f"{partial or promisors.split('.')[1]!r}): task clones cannot fetch missing objects. "
            "Fetch everything first (`git fetch --refetch`, or clone without --filter)"
        )
    listing = git(project, "ls-tree", "-r", "--full-tree", base, check=False)
    gitlinks = [
        line.split("\t", 1)[-1] for line in listing.splitlines() if line.startswith("160000 ")
    ]
    if gitlinks:
        return (
            f"{base!r} of {str(project)!r} has submodules ({', '.join(gitlinks[:3])}): task "
            "clones do not populate them and cannot commit changes inside them. Run Orchestra "
            "on the submodule's own repository, or on a branch without submodules"
        )
    attrs = [line.split("\t", 1)[-1] for line in listing.splitlines()]
    for path in (p for p in attrs if p == ".gitattributes" or p.endswith("/.gitattributes")):
        text = git(project, "cat-file", "-p", f"{base}:{path}", check=False)
        if "filter=lfs" in text.replace(" ", ""):
            return (
                f"{base!r} of {str(project)!r} uses Git LFS ({path} sets filter=lfs): task clones "
                "would hand agents the pointer files, not the content. Run Orchestra on a "
                "branch without LFS files"
            )
    return None


def check_shape(project: Path, base: str) -> None:
    """Raise ProjectError with the reason when tasks cannot run on ``base`` of ``project``."""
    if reason := unsupported_shape(project, base):
        raise ProjectError(reason)
