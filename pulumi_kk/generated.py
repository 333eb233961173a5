"""Values generated once and kept in Pulumi state (as secrets): random secrets and the registry's TLS material.

Dynamic providers: their classes are pickled by reference, so these names are a stable API. No import-time
side effects; no clients stored on the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult
from pulumi.dynamic import Resource as DynamicResource

from . import pki


class GeneratedSecretProvider(ResourceProvider):
    """A random secret, created once; a new one only when ``length`` changes."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        value = pki.random_secret(int(props.get("length") or 32))
        return CreateResult(id_=f"secret-{pki.random_secret(8)}", outs={**props, "value": value})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = int(olds.get("length") or 32) != int(news.get("length") or 32)
        return DiffResult(changes=changed, replaces=["length"] if changed else [], delete_before_replace=True)


class GeneratedSecret(DynamicResource, module="pulumi-kk", name="GeneratedSecret"):
    """``value``: a random secret kept in state."""

    value: pulumi.Output[str]

    def __init__(self, name: str, length: int = 32, opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"]))
        super().__init__(GeneratedSecretProvider(), name, {"length": length, "value": None}, opts)


class RegistryTLSProvider(ResourceProvider):
    """A CA (created once) and a server certificate for ``sans`` (re-issued, same CA, when they change)."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        ca_cert, ca_key = pki.make_ca(f"pulumi-kk registry CA {props.get('name', '')}".strip())
        cert, key = pki.make_server_cert(ca_cert, ca_key, list(props["sans"]))
        return CreateResult(id_=f"tls-{pki.random_secret(8)}",
                            outs={**props, "ca_cert": ca_cert, "ca_key": ca_key, "cert": cert, "key": key})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = list(olds.get("sans") or []) != list(news.get("sans") or [])
        return DiffResult(changes=changed, replaces=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        cert, key = pki.make_server_cert(olds["ca_cert"], olds["ca_key"], list(news["sans"]))
        return UpdateResult(outs={**news, "ca_cert": olds["ca_cert"], "ca_key": olds["ca_key"],
                                  "cert": cert, "key": key})


class RegistryTLS(DynamicResource, module="pulumi-kk", name="RegistryTLS"):
    """TLS for a registry: ``ca_cert`` (give it to clients), ``cert``, and the secret keys."""

    ca_cert: pulumi.Output[str]
    ca_key: pulumi.Output[str]
    cert: pulumi.Output[str]
    key: pulumi.Output[str]

    def __init__(self, name: str, sans: pulumi.Input[Sequence[str]],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["ca_key", "key"]))
        super().__init__(RegistryTLSProvider(), name,
                         {"name": name, "sans": sans, "ca_cert": None, "ca_key": None, "cert": None, "key": None},
                         opts)
