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
