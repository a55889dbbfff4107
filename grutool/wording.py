"""Wording shared by messages, tables and reports. Imports nothing: the CLI uses it before
anything heavy is loaded."""


def counted(number: int, noun: str) -> str:
    """`3 cells`, `1 cell`: a count with its noun, plural where English wants it."""
    return f"{number} {noun}{'s' if number != 1 else ''}"
