"""Helpers shared by the bucket providers: secret/unknown handling, diffing, config, resource options.

Values reach a dynamic provider in two shapes: plain (the engine strips secrets because the Python
dynamic-provider host answers ``acceptSecrets: False``, then re-marks outputs secret from the inputs
and ``additional_secret_outputs``), or wrapped as ``{sig: secret, "value": v}`` (when a caller sends
secrets straight to the host). Providers therefore read through :func:`reveal` and *pass the original
value through* to their outputs, so a wrapped secret stays wrapped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, DiffResult, ResourceProvider
from pulumi.runtime import rpc

from .validate import Failure

PROVIDER_KEY = "__provider"
UNKNOWN: str = rpc.UNKNOWN


def is_unknown(value: Any) -> bool:
    """True for a preview-time unknown (possibly wrapped as a secret)."""
    return bool(reveal(value) == UNKNOWN)


def reveal(value: Any) -> Any:
    """Return the plain value of a possibly secret-wrapped property value."""
    return rpc.unwrap_rpc_secret(value)


def is_secret(value: Any) -> bool:
    """True if ``value`` is a secret-wrapped property value."""
    return rpc.is_rpc_secret(value)


def revealed(props: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Plain values of ``keys`` from ``props``; missing keys map to ``None``."""
    return {k: reveal(props.get(k)) for k in keys}


def known(props: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Plain values of the ``keys`` present in ``props`` that are not preview-time unknowns."""
    return {k: reveal(props[k]) for k in keys if k in props and not is_unknown(props[k])}


def first_set(*values: Any) -> Any:
    """The first value that is neither ``None`` nor an empty string."""
    for value in values:
        if value is not None and value != "":
            return value
    return None


def env(*names: str) -> str | None:
    """The first non-empty environment variable among ``names``."""
    return first_set(*(os.environ.get(n) for n in names))  # type: ignore[no-any-return]


def check_result(inputs: dict[str, Any], failures: Sequence[Failure]) -> CheckResult:
    """Wrap validation failures into a Pulumi ``CheckResult``."""
    return CheckResult(inputs, [CheckFailure(f.prop, f.reason) for f in failures])


def diff_props(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    keys: Iterable[str],
    replace_keys: Iterable[str],
) -> DiffResult:
    """Compare ``keys`` of old outputs and new inputs; changes to ``replace_keys`` force a replacement.

    Unknown new values count as changes (and as replacements for replace keys). ``None`` and a
    missing key are equal. Replacements delete first: the names are fixed, so both cannot coexist.
    """
    replace_set = set(replace_keys)
    changes: list[str] = []
    for key in keys:
        new = news.get(key)
        if is_unknown(new) or reveal(olds.get(key)) != reveal(new):
            changes.append(key)
    replaces = [k for k in changes if k in replace_set]
    return DiffResult(
        changes=bool(changes),
        replaces=replaces,
        stables=sorted(k for k in replace_set if k not in changes),
        delete_before_replace=bool(replaces),
    )


def pass_through(props: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Copy ``keys`` from ``props`` unchanged (secret wrappers kept), ``None`` when missing."""
    return {k: props.get(k) for k in keys}


class StorageProvider(ResourceProvider):
    """Base class: reads a fixed set of Pulumi config keys in ``configure()``.

    Instances carry no state when they are serialized (the program never calls ``configure``), so the
    pickled provider is a by-reference class plus an empty ``__dict__``; SDK clients are built inside
    each method and never stored.
    """

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ()
    INPUT_KEYS: ClassVar[tuple[str, ...]] = ()
    REPLACE_KEYS: ClassVar[tuple[str, ...]] = ()
    """Inputs whose change replaces the bucket (names, regions, accounts); the rest update in place."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_props(olds, news, self.INPUT_KEYS, self.REPLACE_KEYS)

    def configure(self, req: ConfigureRequest) -> None:
        """Keep only the config keys this provider understands (values arrive unwrapped)."""
        self._config: dict[str, Any] = {}
        for key in self.CONFIG_KEYS:
            value = req.config.get(key)
            if value is not None and value != "":
                self._config[key] = value

    def config(self, key: str) -> Any:
        """A stack config value captured by :meth:`configure`, or ``None``."""
        cfg: dict[str, Any] = getattr(self, "_config", {})
        return cfg.get(key)


def secret_or_none(value: pulumi.Input[Any] | None) -> pulumi.Output[Any] | None:
    """``pulumi.Output.secret(value)`` unless ``value`` is ``None``."""
    return None if value is None else pulumi.Output.secret(value)


def with_secret_outputs(opts: pulumi.ResourceOptions | None, names: Sequence[str]) -> pulumi.ResourceOptions:
    """Merge ``additional_secret_outputs=names`` into ``opts``."""
    extra = pulumi.ResourceOptions(additional_secret_outputs=list(names))
    return pulumi.ResourceOptions.merge(opts, extra)
