"""Arithmetic operations on numbers."""


def add(a, b):
    """Return a plus b."""
    return a + b


def subtract(a, b):
    """Return a minus b."""
    return a - b
