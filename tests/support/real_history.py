"""A repository with a real project's history, and the stand-in replies that take a real aider
through one small change in it.

The project is more-itertools (pure Python, no dependencies, its own ``unittest`` suite of ~740
tests that runs in two seconds with the worker image's ``python3``). Its history is rebuilt from
three successive releases on PyPI, the only place CI reaches: each pinned sdist (version and
sha256) is downloaded once with pip into ``.venv/cache/sdists`` and committed in order, with the
release's author (its ``PKG-INFO``) and upload date, and tagged ``v<version>``
(docs/decisions.md, "Quick start on a real project").

:class:`TotientScript` answers each step as a model in aider's ``diff`` edit format would: the
architect plans, the coder adds the ``totient`` recipe (as more-itertools 10.2.0 later did) with
its export, its type stub and a test, the reviewer approves. The task names the three files, so
aider has them in its chat from the start (an edit to a file outside it can go astray). When
aider asks again within a step
(it adds to its chat the files a reply named or an edit touched, then sends the conversation
back), the same role answers without edits. Each task gets the same answers, so every queued task
ends on a result branch with that change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from support.chat_api import Recorded, Reply

PROJECT = "more-itertools"


@dataclass(frozen=True)
class Release:
    version: str
    sha256: str
    #: The sdist's upload time on PyPI (the simple index's ``upload-time``).
    date: str

    @property
    def filename(self) -> str:
        return f"{PROJECT}-{self.version}.tar.gz"


RELEASES = (
    Release(
        "9.1.0",
        "cabaa341ad0389ea83c17a94566a53ae4c9d07349861ecb14dc6d0345cf9ac5d",
        "2023-02-27T14:43:11Z",
    ),
    Release(
        "10.0.0",
        "cd65437d7c4b615ab81c0640c0480bc29a550ea032891977681efd28344d51e1",
        "2023-07-24T14:10:03Z",
    ),
    Release(
        "10.1.0",
        "626c369fa0eb37bac0291bce8259b332fd59ac792fa5497b59837309cd5b114a",
        "2023-08-03T16:36:31Z",
    ),
)

#: The files the agent's change touches.
CHANGED = ["more_itertools/recipes.py", "more_itertools/recipes.pyi", "tests/test_recipes.py"]

VERIFY = "python3 -m unittest -q"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdists(cache: Path) -> list[Path]:
    """The pinned sdists in ``cache``, downloaded with pip (hashes required) where missing or
    not the pinned bytes."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = [r for r in RELEASES if not (cache / r.filename).exists()]
    wanted += [r for r in RELEASES if r not in wanted and _sha256(cache / r.filename) != r.sha256]
    for release in wanted:
        # One pip call per release: a requirements file names a project once.
        (cache / release.filename).unlink(missing_ok=True)
        pins = cache / f"{release.version}.txt"
        pins.write_text(
            f"{PROJECT}=={release.version} --hash=sha256:{release.sha256}\n", encoding="utf-8"
        )
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--require-hashes", "-r", str(pins), "-d", str(cache)],
            check=True,
        )  # fmt: skip
    paths = [cache / r.filename for r in RELEASES]
    for release, path in zip(RELEASES, paths, strict=True):
        got = _sha256(path)
        assert got == release.sha256, f"{path}: sha256 {got!r}, pinned {release.sha256!r}"
    return paths


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return done.stdout.strip()


def make_history_repo(path: Path, cache: Path) -> Path:
    """The project's upstream at ``path`` (branch ``main``): one commit per release, in order,
    as its author on its date, each tagged. ``PKG-INFO`` (made by the build, not in the
    project's own repository) is left out."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    for release, sdist in zip(RELEASES, fetch_sdists(cache), strict=True):
        for item in path.iterdir():
            if item.name != ".git":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        top = f"{PROJECT}-{release.version}/"
        with tarfile.open(sdist) as tar:
            info = tar.extractfile(f"{top}PKG-INFO")
            assert info is not None
            headers = HeaderParser().parsestr(info.read().decode("utf-8"))
            members = [m for m in tar.getmembers() if m.name.startswith(top) and m.isfile()]
            for member in members:
                member.name = member.name[len(top) :]
            tar.extractall(path, members=members, filter="data")
        (path / "PKG-INFO").unlink()
        name, _, email = headers["Author-email"].partition(" <")
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email.rstrip(">"),
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email.rstrip(">"),
            "GIT_AUTHOR_DATE": release.date,
            "GIT_COMMITTER_DATE": release.date,
        }
        _git(path, "add", "-A", env=env)
        _git(path, "commit", "-qm", f"{PROJECT} {release.version}", env=env)
        _git(path, "tag", f"v{release.version}", env=env)
    return path


TASK = f"""---
id: task-01
title: Add the totient recipe
verify: {VERIFY}
---
## Goal

Add `totient(n)` (Euler's totient: how many numbers up to n are coprime with n) to the recipes
in more_itertools/recipes.py, exported from `more_itertools`, with its type stub in
more_itertools/recipes.pyi and a test in tests/test_recipes.py.

## Acceptance criteria

- `more_itertools.totient(9) == 6` and `more_itertools.totient(1) == 1`.
- `{VERIFY}` passes.
"""


def _handoff(summary: str, next_: str = "review") -> str:
    artifacts = "\n".join(f"- {f}" for f in CHANGED)
    return (
        f"## Summary\n{summary}\n\n## Actions\n- {summary}\n\n## Artifacts\n{artifacts}\n\n"
        f"## Risks\n- none\n\n## Next\n- {next_}\n"
    )


def _block(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


PLAN = (
    "Plan: add `totient` after `polynomial_derivative` in the recipes, list it in `__all__`, "
    "give it a stub and a test class in the recipes' tests.\n\n"
    + _handoff("Planned the totient recipe.", next_="implement")
)

_ALL = "    'take',\n    'transpose',\n"
_LAST = (
    "    n = len(coefficients)\n    powers = reversed(range(1, n))\n"
    "    return list(map(operator.mul, coefficients, powers))\n"
)
TOTIENT = '''

def totient(n):
    """Return the count of natural numbers up to *n* that are coprime with *n*.

    >>> totient(9)
    6
    >>> totient(12)
    4
    """
    for p in unique_justseen(factor(n)):
        n = n // p * (p - 1)

    return n
'''
_STUB = "def polynomial_derivative(coefficients: Sequence[_T]) -> list[_T]: ...\n"
_LAST_TEST = (
    "                actual = mi.polynomial_derivative(coefficients)\n"
    "                self.assertEqual(actual, expected)\n"
)
TOTIENT_TEST = """

class TotientTests(TestCase):
    def test_basic(self):
        for n, expected in ((1, 1), (2, 1), (9, 6), (12, 4), (97, 96), (100, 40)):
            with self.subTest(n=n):
                self.assertEqual(mi.totient(n), expected)
"""

#: The coder's edits: (file, search, replace), in order.
EDITS = [
    ("more_itertools/recipes.py", _ALL, _ALL.replace("'take',\n", "'take',\n    'totient',\n")),
    ("more_itertools/recipes.py", _LAST, _LAST + TOTIENT),
    ("more_itertools/recipes.pyi", _STUB, _STUB + "def totient(n: int) -> int: ...\n"),
    ("tests/test_recipes.py", _LAST_TEST, _LAST_TEST + TOTIENT_TEST),
]

DONE = _handoff("Added totient to the recipes, its stub and its tests.")

EDIT = "I will add the totient recipe.\n\n" + "\n".join(_block(*e) for e in EDITS) + "\n" + DONE


def edited(path: str, text: str) -> str:
    """``text`` (the file at ``path`` before the change) as the coder's edits leave it."""
    for file, search, replace in EDITS:
        if file == path:
            assert text.count(search) == 1, f"{search!r} is not once in {path}"
            text = text.replace(search, replace)
    return text


REVIEW_APPROVE = (
    _handoff("totient is right, exported, typed and tested.", next_="merge")
    + "\nVerdict: APPROVE\n"
)


#: What each role answers; and, when aider asks again in the same conversation (it has added to
#: its chat the files a reply named, or that an edit touched), what it answers then: no edits,
#: the same handoff (and verdict).
REPLIES = {"architect": PLAN, "coder": EDIT, "reviewer": REVIEW_APPROVE}
FOLLOW_UPS = {"architect": PLAN, "coder": "Nothing more to change.\n\n" + DONE,
              "reviewer": REVIEW_APPROVE}  # fmt: skip
FOLLOW_UP = " (follow-up)"
ROLES = ("architect", "coder", "reviewer", "fixer")


def _role(text: str) -> str:
    return next((r for r in ROLES if f"Role: {r}" in text), "")


class TotientScript:
    """The stand-in's script for more-itertools: plan, add totient, approve (every task).
    ``roles`` lists the role of each request, aider's follow-ups as ``<role> (follow-up)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.roles: list[str] = []

    def __call__(self, request: Recorded) -> Reply:
        role = _role(request.last_user_text)
        if role:
            reply, seen = REPLIES.get(role, "I have nothing to do."), role
        else:
            role = _role(json.dumps(request.body))
            reply, seen = FOLLOW_UPS.get(role, "I have nothing to do."), role + FOLLOW_UP
        with self._lock:
            self.roles.append(seen)
        return Reply(reply, prompt_tokens=1500, completion_tokens=120)
