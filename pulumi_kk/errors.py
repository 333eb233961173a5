"""Errors raised for bad input, before any remote command runs."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KKError(ValueError):
    """Bad input: names where it came from (file or setting), the key, and the fix."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None,
                 fix: str | None = None) -> None:
        self.source = source
        self.key = key
        self.fix = fix
        self.detail = message
        parts = []
        if source:
            parts.append(source)
        if key:
            parts.append(key)
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word``, or None when nothing is close."""
    found = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.75)
    return found[0] if found else None


def suggestion(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix, or ''."""
    best = did_you_mean(word, choices)
    return f" (did you mean {best!r}?)" if best else ""
