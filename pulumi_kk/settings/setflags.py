"""The ``--set`` syntax: ``a=1,b.c=x,d=[p,q]``, repeated; dotted keys nest; scalars are typed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..errors import KKError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$")
_INT = re.compile(r"^[+-]?\d+$")


def _split_top(text: str, source: str) -> list[str]:
    """Split on commas outside ``[...]``."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise KKError(f"unbalanced ']' in {text!r}.", source=source, fix="write lists as key=[a,b].")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise KKError(f"unbalanced '[' in {text!r}.", source=source, fix="close the list: key=[a,b].")
    parts.append("".join(cur))
    return parts


def scalar(text: str) -> Any:
    """Typed scalar: true/false, null, integers; everything else stays text (``2.10`` is a version, not 2.1)."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "~"):
        return None
    if _INT.match(t) and not (len(t.lstrip("+-")) > 1 and t.lstrip("+-").startswith("0")):
        return int(t)
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    return t


def nest(key: str, value: Any) -> dict[str, Any]:
    """``a.b.c`` = v → ``{"a": {"b": {"c": v}}}``."""
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return dict(out)


def parse_set(values: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """Parse every ``--set`` string, later ones winning, into one nested dict."""
    from .load import deep_merge

    result: dict[str, Any] = {}
    for text in values:
        for item in _split_top(text, source):
            item = item.strip()
            if not item:
                raise KKError(f"empty item in {text!r}.", source=source,
                              fix="separate key=value pairs with single commas.")
            if "=" not in item:
                raise KKError(f"{item!r} has no '='.", source=source, fix="write key=value, e.g. docker_version=24.0.7.")
            key, raw = item.split("=", 1)
            key = key.strip()
            if not _KEY.match(key):
                raise KKError(f"{key!r} is not a valid key.", source=source,
                              fix="use dotted names like image_registry.auth.plain_http.")
            raw = raw.strip()
            value: Any
            if raw.startswith("[") and raw.endswith("]"):
                inner = raw[1:-1].strip()
                items = _split_top(inner, source) if inner else []
                if any(not x.strip() for x in items):
                    raise KKError(f"empty list item in {item!r}.", source=source,
                                  fix="separate list items with single commas: key=[a,b].")
                value = [scalar(x) for x in items]
            else:
                value = scalar(raw)
            result = deep_merge(result, nest(key, value))
    return result
