"""Per-task workspace cost: Orchestra's workspace vs `git clone --local` vs `git worktree add`.

Builds (once, ~20 s, under ``$ORCHESTRA_BENCH_DIR`` or /tmp/orchestra-bench-ws) a repository with
~350 MiB of incompressible history and a ~3 MiB checked-out tree, then creates ``runs``
workspaces per method, interleaved so background load hits each alike, and reports the median
wall time and the NEW disk each one allocates. Blocks of inodes that already belong to the
project's `.git` (the hard links `clone --local` makes) are not new and count zero.

Orchestra's workspace is :func:`orchestra.workspace.clone.create_workspace` plus the agent's
`.git` (:func:`orchestra.workspace.agentgit.reset_agent_git`), exactly what a task gets.
Targets (issue 10): at most 1.5x the faster of the two, and < 5 % of the `.git` size per task.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestra.workspace.agentgit import reset_agent_git
from orchestra.workspace.clone import commit_all, create_workspace, fetch_branch

HISTORY_COMMITS = 350
BLOB_SIZE = 1 << 20  # random, so zlib cannot shrink it: ~1 MiB of .git per commit
TREE_FILES = 300
TREE_FILE_SIZE = 10_000


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return (
        subprocess.run(
            ["git", "-C", str(cwd), *args], input=stdin, env=env, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )


def build_repo(repo: Path) -> None:
    """One fast-import stream: commits that each rewrite big.bin, then a final commit
    that deletes it, leaving only src/ (small text files) checked out."""
    if (repo / ".git").is_dir():
        return
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    rnd = random.Random(1)
    words = [f"w{i}" for i in range(500)]
    chunks: list[bytes] = []

    def data(payload: bytes) -> None:
        chunks.append(b"data %d\n" % len(payload) + payload + b"\n")

    for i in range(1, HISTORY_COMMITS + 2):
        chunks.append(b"commit refs/heads/main\nmark :%d\n" % i)
        chunks.append(b"committer Bench <b@x> %d +0000\n" % (1_700_000_000 + i))
        data(b"commit %d" % i)
        if i > 1:
            chunks.append(b"from :%d\n" % (i - 1))
        if i == 1:
            for f in range(TREE_FILES):
                text = " ".join(rnd.choices(words, k=TREE_FILE_SIZE // 4)).encode()
                chunks.append(b"M 100644 inline src/file%03d.txt\n" % f)
                data(text[:TREE_FILE_SIZE])
        if i <= HISTORY_COMMITS:
            chunks.append(b"M 100644 inline big.bin\n")
            data(os.urandom(BLOB_SIZE))
        else:
            chunks.append(b"D big.bin\n")
    git(repo, "fast-import", "--quiet", stdin=b"".join(chunks))
    git(repo, "checkout", "-q", "-f", "main")


def inodes(path: Path) -> set[tuple[int, int]]:
    out = set()
    for dirpath, _, files in os.walk(path):
        for name in files:
            st = Path(dirpath, name).lstat()
            out.add((st.st_dev, st.st_ino))
    return out


def new_bytes(paths: list[Path], old: set[tuple[int, int]]) -> int:
    """Allocated bytes of the inodes under ``paths`` that are not in ``old``."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in paths:
        for dirpath, dirs, files in os.walk(top):
            for name in files + dirs:
                st = Path(dirpath, name).lstat()
                key = (st.st_dev, st.st_ino)
                if key not in old and key not in seen:
                    seen.add(key)
                    total += st.st_blocks * 512
    return total


def du(path: Path) -> int:
    return new_bytes([path], set())


def run(runs: int = 7) -> dict[str, Any]:
    """Build the repository if needed, time every method, return medians and ratios."""
    base = Path(os.environ.get("ORCHESTRA_BENCH_DIR", "/tmp/orchestra-bench-ws"))
    repo = base / "project"
    t0 = time.perf_counter()
    build_repo(repo)
    build_s = time.perf_counter() - t0
    git_size = du(repo / ".git")
    old = inodes(repo / ".git")
    work = base / "runs"
    shutil.rmtree(work, ignore_errors=True)

    def orchestra_ws(i: int) -> list[Path]:
        ws = create_workspace(repo, work / "wt" / f"t{i}", work / "gd" / f"t{i}", f"t{i}", "main")
        reset_agent_git(ws, "/orchestra/objects", ws.base_commit)
        return [ws.path, ws.git_dir]

    def clone(i: int) -> list[Path]:
        dest = work / "clone" / f"t{i}"
        git(repo, "clone", "-q", "--local", "--no-checkout", str(repo), str(dest))
        git(dest, "checkout", "-q", "-B", f"orchestra/t{i}", "main")
        return [dest]

    def worktree(i: int) -> list[Path]:
        dest = work / "worktree" / f"t{i}"
        git(repo, "worktree", "add", "-q", "--detach", str(dest), "main")
        return [dest, repo / ".git" / "worktrees" / f"t{i}"]

    methods: dict[str, Callable[[int], list[Path]]] = {
        "orchestra": orchestra_ws,
        "clone": clone,
        "worktree": worktree,
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    sizes: dict[str, list[int]] = {name: [] for name in methods}
    try:
        for i in range(runs):
            for name, make in methods.items():
                t = time.perf_counter()
                paths = make(i)
                times[name].append(time.perf_counter() - t)
                sizes[name].append(new_bytes(paths, old))
        ws = create_workspace(repo, work / "wt" / "c", work / "gd" / "c", "commit-bench", "main")
        (ws.path / "src" / "file000.txt").write_text("changed\n", encoding="utf-8")
        t = time.perf_counter()
        commit_all(ws, message="bench", author_name="b", author_email="b@x")
        commit_s = time.perf_counter() - t
        t = time.perf_counter()
        fetch_branch(repo, ws)
        fetch_s = time.perf_counter() - t
    finally:
        if (work / "worktree").is_dir():
            for p in (work / "worktree").iterdir():
                git(repo, "worktree", "remove", "--force", str(p))
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(
            ["git", "-C", str(repo), "update-ref", "-d", "refs/heads/orchestra/commit-bench"],
            check=False,
            capture_output=True,
        )
    med = {name: statistics.median(times[name]) for name in methods}
    disk = {name: statistics.median(sizes[name]) for name in methods}
    best = min(med["clone"], med["worktree"])
    return {
        "git_mib": git_size / 2**20,
        "build_s": build_s,
        "orchestra_s": med["orchestra"],
        "clone_s": med["clone"],
        "worktree_s": med["worktree"],
        "time_ratio": med["orchestra"] / best,
        "orchestra_mib": disk["orchestra"] / 2**20,
        "clone_mib": disk["clone"] / 2**20,
        "worktree_mib": disk["worktree"] / 2**20,
        "disk_pct": 100 * disk["orchestra"] / git_size,
        "commit_s": commit_s,
        "fetch_s": fetch_s,
        "runs": runs,
    }


def report(result: dict[str, Any]) -> str:
    """The comparison table, both targets with their verdict."""
    rows = [
        ("Orchestra (host git dir + agent .git)", "orchestra"),
        ("`git clone --local` + checkout", "clone"),
        ("`git worktree add`", "worktree"),
    ]
    best = min(result["clone_s"], result["worktree_s"])
    lines = [
        f"Repository: {result['git_mib']:.0f} MiB `.git` (one pack), ~3 MiB checked out; "
        f"medians of {result['runs']} interleaved runs.",
        "",
        "| method | wall s | vs faster of clone/worktree | new disk MiB | % of .git |",
        "|---|---|---|---|---|",
    ]
    for label, key in rows:
        secs, mib = result[f"{key}_s"], result[f"{key}_mib"]
        pct = 100 * mib / result["git_mib"]
        lines.append(f"| {label} | {secs:.3f} | {secs / best:.2f}x | {mib:.2f} | {pct:.2f} % |")
    disk_ok = "PASS" if result["disk_pct"] < 5 else "MISS"
    lines += [
        "",
        f"Disk target (< 5 % of `.git` per task): **{disk_ok}** ({result['disk_pct']:.2f} %). "
        f"Result path for a one-file change: commit {result['commit_s']:.3f} s, "
        f"fetch into the project {result['fetch_s']:.3f} s.",
    ]
    return "\n".join(lines)
