"""Before and after: regwire's rows measured with another checkout's code, in one run.

``python -m benchmarks --compare TREE`` measures each regwire client twice per run, once with
the regwire package of TREE (another checkout, e.g. ``git worktree add /tmp/before 4766ccb``)
and once with this checkout's, the two taking turns run after run (A B, A B, ...), so that a
busy minute on a shared machine lands on both halves rather than on one. Everything except the
regwire package (the benchmark code, the harness, the registries, the corpus) is this
checkout's, so the two halves differ in regwire alone.

Theory of operation. Which regwire a process imports is decided by ``sys.path``, and
``python -m`` puts the working directory (this checkout's root) ahead of ``PYTHONPATH``: a child
started from the root with ``PYTHONPATH=TREE`` imports this checkout's regwire, silently. So
every child of a comparison, before and after alike, is told its tree in ``BENCH_REGWIRE_TREE``
and calls `load_regwire` before anything imports regwire: it imports the package from the
front of ``sys.path``, takes the tree off again (so that ``benchmarks`` and ``tests`` still
come from here; regwire's own submodules follow the package's ``__path__``), and refuses to go
on if ``regwire.__file__`` is not under the tree. The child reports the file it loaded, and the
parent checks it again.

Workloads that run regwire in fresh processes (blobs, push, big copy: `benchmarks.blobjob`,
``pushjob``, ``bigcopyjob``) start the before and after jobs with their trees. Workloads that
run regwire inside the benchmark process (inspect, copy) run it instead in two long-lived
`Worker` processes, one per tree, which call a function of `benchmarks.clients` or
`benchmarks.copyjob` on request and time it there: each call still runs in a warm process, as
in the in-process rows, with the clock around the call alone.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

TREE_ENV = "BENCH_REGWIRE_TREE"
ROOT = Path(__file__).resolve().parent.parent  # this checkout: the "after" tree
BEFORE, AFTER = "before", "after"


def label(client: str, side: str) -> str:
    """A row's client name: ``regwire-sync (before)`` for TREE's code, the name alone for ours."""
    return f"{client} (before)" if side == BEFORE else client


def check_tree(tree: str) -> str:
    """The real path of a checkout holding a regwire package, or SystemExit saying what is wrong."""
    path = os.path.realpath(tree)
    if not os.path.isfile(os.path.join(path, "regwire", "__init__.py")):
        raise SystemExit(
            f"--compare {tree}: no regwire/__init__.py there; give a checkout of regwire, "
            f"e.g. made with 'git worktree add {tree} COMMIT'"
        )
    return path


def child_env(tree: str) -> dict[str, str]:
    """The environment of a child that must run ``tree``'s regwire (see `load_regwire`)."""
    return {**os.environ, TREE_ENV: os.path.realpath(tree)}


def check_loaded(where: object, tree: str) -> None:
    """Refuse a child's answer unless the regwire it loaded (``where``) is under ``tree``."""
    root = os.path.realpath(tree) + os.sep
    if not isinstance(where, str) or not where.startswith(root):
        raise RuntimeError(f"a child meant to run {tree}'s regwire ran {where}")


def load_regwire() -> str | None:
    """Import regwire from the tree named by ``BENCH_REGWIRE_TREE``, and return its file.

    Without the variable (an ordinary run) nothing happens and None is returned. With it, a
    regwire imported from anywhere else is a wrong measurement, so it ends the process.
    """
    tree = os.environ.get(TREE_ENV)
    if not tree:
        return None
    tree = os.path.realpath(tree)
    if "regwire" not in sys.modules:
        sys.path.insert(0, tree)
        try:
            importlib.import_module("regwire")
        finally:
            sys.path.remove(tree)
    where = os.path.realpath(sys.modules["regwire"].__file__ or "")
    if not where.startswith(tree + os.sep):
        raise SystemExit(
            f"regwire was imported from {where}, not from {tree}: this measurement would "
            f"not be of {tree}'s code; call benchmarks.compare.load_regwire() before "
            f"anything imports regwire"
        )
    return where


class Worker:
    """A child process running one tree's regwire, calling benchmark functions on request.

    The parent writes one JSON line per call (``{"call": "benchmarks.clients:NAME", "args":
    [...]}``) and reads one back: the seconds the call took, timed in the child around the
    call alone, and its result (digests, counts), which the parent compares across clients.
    """

    def __init__(self, tree: str) -> None:
        self.tree = os.path.realpath(tree)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.compare", "worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(self.tree),
            cwd=ROOT,
        )
        _, where = self.call("benchmarks.compare:load_regwire")
        try:
            check_loaded(where, self.tree)
        except RuntimeError:
            self.close()
            raise
        self.regwire: str = where

    def call(self, function: str, *args: Any) -> tuple[float, Any]:
        """Run ``module:function(*args)`` in the child; return (seconds, result)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"call": function, "args": args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait(timeout=30)
            raise RuntimeError(
                f"the benchmark worker for {self.tree} ended (exit {code}) during {function}; "
                f"its traceback is above"
            )
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(
                f"{function} failed in the worker for {self.tree}:\n{answer['error']}"
            )
        return float(answer["seconds"]), answer["result"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Compare:
    """The two trees of a comparison, and their workers (started when first needed)."""

    def __init__(self, tree: str) -> None:
        self.tree = check_tree(tree)
        self.sides = ((BEFORE, self.tree), (AFTER, str(ROOT)))
        self._workers: dict[str, Worker] = {}

    def workers(self) -> dict[str, Worker]:
        if not self._workers:
            for side, tree in self.sides:
                self._workers[side] = Worker(tree)
        return self._workers

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    def describe(self) -> str:
        """Which code each half runs: the commits, and whether uncommitted changes are in it."""
        parts = []
        for side, tree in self.sides:
            parts.append(f"{side}: {tree} at {_commit(tree)}")
        return "; ".join(parts)


def _commit(tree: str) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "an unknown commit"
    dirty = git("status", "--porcelain", "--", "regwire")
    return f"{commit} (with uncommitted changes under regwire/)" if dirty else commit


def _serve(requests: TextIO, answers: TextIO) -> None:
    for line in requests:
        request = json.loads(line)
        module, _, name = request["call"].partition(":")
        if not module.startswith("benchmarks."):
            answers.write(json.dumps({"error": f"{module} is not a benchmark module"}) + "\n")
            answers.flush()
            continue
        try:
            function = getattr(importlib.import_module(module), name)
            started = time.perf_counter()
            result = function(*request["args"])
            answer = {"seconds": time.perf_counter() - started, "result": result}
        except Exception:
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def worker() -> None:
    """The child's side of `Worker`: regwire from the tree first, then serve calls."""
    load_regwire()
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a client prints goes to stderr, not into the answers
    sys.stdout = sys.stderr
    _serve(sys.stdin, answers)


if __name__ == "__main__":
    if sys.argv[1:] != ["worker"]:
        raise SystemExit("usage: python -m benchmarks.compare worker (started by --compare)")
    worker()
