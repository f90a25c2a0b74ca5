"""The exception tree: one root, no built-in bases, every error named in errors.__all__."""

from __future__ import annotations

import pytest

from orchestra import errors


@pytest.mark.parametrize("name", errors.__all__)
def test_no_builtin_bases(name: str) -> None:
    """Each error's ancestors are ours up to Exception, so except-clause order never matters."""
    cls = getattr(errors, name)
    assert issubclass(cls, errors.OrchestraError)
    ours = {c for c in cls.__mro__ if c.__module__ == errors.__name__}
    assert set(cls.__mro__) - ours == {Exception, BaseException, object}


def test_task_file_error_is_not_a_queue_error() -> None:
    """A malformed task file and an unreadable queue folder are different troubles."""
    assert not issubclass(errors.TaskFileError, errors.QueueError)


@pytest.mark.parametrize("name", errors.__all__)
def test_the_drawn_tree_names_every_error(name: str) -> None:
    """The tree in errors.py's docstring draws each error under its own parent."""
    doc = errors.__doc__ or ""
    lines = [line for line in doc.splitlines() if line.strip(" │├└─").startswith(name + " ")]
    lines += [line for line in doc.splitlines() if line.strip() == name]
    assert lines, f"errors.py's docstring tree does not draw {name}"
    cls = getattr(errors, name)
    if cls is errors.OrchestraError:
        return
    depth = (len(lines[0]) - len(lines[0].lstrip(" │├└─"))) // 4 - 1  # the root is indented too
    parents = [c.__name__ for c in cls.__mro__[1:] if c.__module__ == errors.__name__]
    assert depth == len(parents), f"{name} is drawn at depth {depth}, its parents are {parents}"


def test_step_failed_keeps_its_record_through_pickling() -> None:
    """A task run's state may be pickled: the failed step's record comes back with it."""
    import pickle

    failed = pickle.loads(pickle.dumps(errors.StepFailed("review (reviewer): timeout", {"a": 1})))
    assert (str(failed), failed.record) == ("review (reviewer): timeout", {"a": 1})
