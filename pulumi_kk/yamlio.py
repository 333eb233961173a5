"""YAML loading that reports syntax errors with a line and refuses duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import KKError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark)
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Floats stay text (`harbor_version: 2.10` must not become 2.1); the settings model converts per field.
_StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text; errors name ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = str(exc.problem or exc).rstrip(".")
        raise KKError(f"YAML error at {where}: {problem}.",
                      source=source, fix="correct the YAML syntax at that line.") from None
    except yaml.YAMLError as exc:
        raise KKError(f"YAML error: {exc}", source=source, fix="correct the YAML syntax.") from None


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse a YAML file; a missing file is a KKError."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KKError("file not found.", source=str(path), fix="check the path you passed.") from None
    except OSError as exc:
        raise KKError(f"cannot read: {exc.strerror}.", source=str(path),
                      fix="check the path and its permissions.") from None
    except UnicodeDecodeError:
        raise KKError("is not UTF-8 text.", source=str(path), fix="pass the YAML file itself, saved as UTF-8.") from None
    return load_yaml_text(text, str(path))
