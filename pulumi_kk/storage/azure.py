"""``AzureBlobContainer``: a blob container in an existing storage account (Pulumi dynamic provider).

Credentials, in order: explicit ``connection_string``, or ``account_name`` + ``account_key`` (both kinds
stored as secrets); stack config ``pulumi-kk:azureStorageConnectionString`` or
``pulumi-kk:azureStorageAccount`` + ``pulumi-kk:azureStorageKey``; then the environment
``AZURE_STORAGE_CONNECTION_STRING`` or ``AZURE_STORAGE_ACCOUNT`` + ``AZURE_STORAGE_KEY``.
``api_version`` pins the REST version (Azurite 3.37 accepts at most ``2026-06-06``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, ReadResult, Resource, UpdateResult

from . import validate
from .common import (
    StorageProvider,
    check_result,
    env,
    is_unknown,
    known,
    pass_through,
    reveal,
    revealed,
    secret_or_none,
    with_secret_outputs,
)

INPUT_KEYS = (
    "container",
    "account_name",
    "blob_endpoint",
    "api_version",
    "metadata",
    "force_destroy",
    "connection_string",
    "account_key",
)
SECRET_KEYS = ("connection_string", "account_key")
REPLACE_KEYS = ("container", "account_name", "blob_endpoint")
DEFAULTS: dict[str, Any] = {"force_destroy": False, "metadata": {}}
AZURITE_MAX_API_VERSION = "2026-06-06"
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_parts(conn: str) -> dict[str, str]:
    """AccountName / AccountKey / BlobEndpoint of a connection string (BlobEndpoint derived if absent).

    Raises ``ValueError`` (without echoing the secret) when the string is malformed.
    """
    raw = validate.parse_connection_string(conn)
    parts = {k.lower(): v for k, v in raw.items()}
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        proxy = parts.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
        return {"AccountName": _DEV_ACCOUNT, "AccountKey": _DEV_KEY, "BlobEndpoint": f"{proxy}:10000/{_DEV_ACCOUNT}"}
    account = parts.get("accountname")
    if not account:
        raise ValueError("it has no AccountName")
    endpoint = parts.get("blobendpoint")
    if not endpoint:
        protocol = parts.get("defaultendpointsprotocol", "https")
        suffix = parts.get("endpointsuffix", "core.windows.net")
        endpoint = f"{protocol}://{account}.blob.{suffix}"
    out = {"AccountName": account, "BlobEndpoint": endpoint.rstrip("/")}
    if parts.get("accountkey"):
        out["AccountKey"] = parts["accountkey"]
    return out


def default_endpoint(account: str) -> str:
    """The public-cloud blob endpoint of ``account``."""
    return f"https://{account}.blob.core.windows.net"


def realm_and_service_url(account: str, endpoint: str | None) -> tuple[str, str | None]:
    """Distribution's ``realm``, plus ``serviceurl`` when the endpoint is not ``<account>.blob.<realm>``."""
    if not endpoint:
        return "core.windows.net", None
    host = urlparse(endpoint).hostname or ""
    prefix = f"{account}.blob."
    if host.startswith(prefix) and urlparse(endpoint).scheme == "https" and not urlparse(endpoint).port:
        return host[len(prefix):], None
    return "core.windows.net", endpoint.rstrip("/")


class AzureBlobContainerProvider(StorageProvider):
    """CRUD for :class:`AzureBlobContainer`. The id is ``<account>/<container>``."""

    INPUT_KEYS = INPUT_KEYS
    REPLACE_KEYS = REPLACE_KEYS

    CONFIG_KEYS = (
        "pulumi-kk:azureStorageConnectionString",
        "pulumi-kk:azureStorageAccount",
        "pulumi-kk:azureStorageKey",
    )

    def _ambient(self) -> tuple[str | None, str | None, str | None]:
        """(connection string, account, key) from stack config, else from the environment."""
        conn = self.config("pulumi-kk:azureStorageConnectionString")
        account = self.config("pulumi-kk:azureStorageAccount")
        key = self.config("pulumi-kk:azureStorageKey")
        if conn or (account and key):
            return conn, account, key
        return env("AZURE_STORAGE_CONNECTION_STRING"), env("AZURE_STORAGE_ACCOUNT"), env("AZURE_STORAGE_KEY")

    def _client(self, p: Mapping[str, Any]) -> Any:
        """A fresh ``ContainerClient`` for the plain props ``p``; checks the account matches."""
        from azure.storage.blob import BlobServiceClient

        kwargs: dict[str, Any] = {"retry_total": 3, "connection_timeout": 10, "read_timeout": 60}
        if p.get("api_version"):
            kwargs["api_version"] = p["api_version"]
        conn, account, key = p.get("connection_string"), p.get("account_name"), p.get("account_key")
        if not conn and not key:
            conn, amb_account, key = self._ambient()
            account = account or amb_account
        endpoint = p.get("blob_endpoint")
        if conn:
            parts = connection_parts(conn)
            if p.get("account_name") and parts["AccountName"] != p["account_name"]:
                raise RuntimeError(
                    f"the Azure connection string is for account {parts['AccountName']!r} but the container "
                    f"lives in {p['account_name']!r}; pass credentials for {p['account_name']!r}"
                )
            if endpoint and endpoint.rstrip("/") != parts["BlobEndpoint"]:
                service = BlobServiceClient(
                    account_url=endpoint,
                    credential={"account_name": parts["AccountName"], "account_key": parts.get("AccountKey", "")},
                    **kwargs,
                )
            else:
                service = BlobServiceClient.from_connection_string(conn, **kwargs)
        elif key and account:
            service = BlobServiceClient(
                account_url=endpoint or default_endpoint(account),
                credential={"account_name": account, "account_key": key},
                **kwargs,
            )
        else:
            raise RuntimeError(
                "no Azure Storage credentials: pass connection_string= or account_name= and account_key=, set "
                "pulumi-kk:azureStorageConnectionString, or export AZURE_STORAGE_CONNECTION_STRING"
            )
        return service.get_container_client(p["container"])

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Fill defaults, derive ``account_name``/``blob_endpoint`` from the credentials, validate."""
        inputs = dict(news)
        for default_key, value in DEFAULTS.items():
            if inputs.get(default_key) is None:
                inputs[default_key] = value
        failures: list[validate.Failure] = []
        conn, key = inputs.get("connection_string"), inputs.get("account_key")
        if conn is not None and key is not None:
            failures.append(validate.Failure("connection_string", "pass either connection_string or "
                                                                  "account_name + account_key, not both"))
        source = conn
        if conn is None and key is None:
            amb_conn, amb_account, _ = self._ambient()
            source = amb_conn
            if not amb_conn and amb_account and inputs.get("account_name") is None:
                inputs["account_name"] = amb_account
        if source is not None and not is_unknown(source):
            try:
                parts = connection_parts(reveal(source))
            except ValueError as err:
                failures.append(validate.Failure("connection_string", f"connection_string is malformed ({err}); "
                                                 "copy it from the portal: 'DefaultEndpointsProtocol=https;"
                                                 "AccountName=...;AccountKey=...'"))
            else:
                name = inputs.get("account_name")
                if name is None:
                    inputs["account_name"] = parts["AccountName"]
                elif not is_unknown(name) and reveal(name) != parts["AccountName"]:
                    failures.append(validate.Failure("account_name", f"account_name {reveal(name)!r} differs from "
                                                     "the connection string's AccountName "
                                                     f"{parts['AccountName']!r}; make them agree or drop one"))
                if inputs.get("blob_endpoint") is None:
                    inputs["blob_endpoint"] = parts["BlobEndpoint"]
        if inputs.get("account_name") is None and source is None:
            what = "account_key needs account_name" if key is not None else "no storage account"
            failures.append(validate.Failure("account_name", f"{what}: pass connection_string=, or account_name= "
                                             "with account_key=, or export AZURE_STORAGE_CONNECTION_STRING"))
        if inputs.get("blob_endpoint") is None and inputs.get("account_name") is not None \
                and not is_unknown(inputs["account_name"]):
            inputs["blob_endpoint"] = default_endpoint(reveal(inputs["account_name"]))
        failures += validate.validate_azure(known(inputs, INPUT_KEYS))
        api = inputs.get("api_version")
        if api is not None and not is_unknown(api):
            failures += _check_api_version(reveal(api))
        return check_result(inputs, failures)


    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the container, refusing to adopt an existing one."""
        from azure.core.exceptions import ResourceExistsError

        p = revealed(props, INPUT_KEYS)
        try:
            self._client(p).create_container(metadata=p.get("metadata") or None)
        except ResourceExistsError as err:
            raise RuntimeError(f"Azure container {p['container']!r} already exists in account "
                               f"{p['account_name']!r}; refusing to adopt it. Choose another name, or delete "
                               "the existing container first") from err
        return CreateResult(id_=f"{p['account_name']}/{p['container']}", outs=self._outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Replace the container metadata when it changed."""
        p, old = revealed(news, INPUT_KEYS), revealed(olds, INPUT_KEYS)
        if (old.get("metadata") or {}) != (p.get("metadata") or {}):
            self._client(p).set_container_metadata(metadata=p.get("metadata") or {})
        return UpdateResult(outs=self._outs(news))

    @staticmethod
    def _outs(props: Mapping[str, Any]) -> dict[str, Any]:
        outs = pass_through(props, INPUT_KEYS)
        outs["url"] = f"{str(reveal(props['blob_endpoint'])).rstrip('/')}/{reveal(props['container'])}"
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Live metadata for ``pulumi refresh``; an empty id means the container is gone."""
        from azure.core.exceptions import ResourceNotFoundError

        p = revealed(props, INPUT_KEYS)
        if not p.get("container") and "/" in id_:
            p["account_name"], p["container"] = id_.split("/", 1)
        try:
            live = self._client(p).get_container_properties()
        except ResourceNotFoundError:
            return ReadResult(id_="", outs={})
        outs = self._outs({**props, "container": p["container"], "account_name": p["account_name"],
                           "blob_endpoint": p.get("blob_endpoint") or default_endpoint(p["account_name"]),
                           "metadata": dict(live.metadata or {})})
        inputs = {k: v for k, v in outs.items() if k in INPUT_KEYS}
        return ReadResult(id_=f"{p['account_name']}/{p['container']}", outs=outs, inputs=inputs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the container; missing is fine, non-empty needs ``force_destroy``."""
        from azure.core.exceptions import ResourceNotFoundError

        p = revealed(props, INPUT_KEYS)
        client = self._client(p)
        try:
            client.get_container_properties()
        except ResourceNotFoundError:
            return
        if next(iter(client.list_blobs(results_per_page=1)), None) is not None and not p.get("force_destroy"):
            raise RuntimeError(
                f"Azure container {p['container']!r} is not empty; refusing to delete it. Set force_destroy=True "
                "to delete the container with all its blobs, or empty it first"
            )
        try:
            client.delete_container()
        except ResourceNotFoundError:
            return


def _check_api_version(api: str) -> list[validate.Failure]:
    """Reject versions the installed azure-storage-blob does not know (it would fail at client creation)."""
    try:
        from azure.storage.blob import _serialize
    except ImportError:  # pragma: no cover - layout of a future SDK
        return []
    supported: list[str] = list(getattr(_serialize, "_SUPPORTED_API_VERSIONS", []))
    if not supported or api in supported:
        return []
    newest = [v for v in supported if v <= AZURITE_MAX_API_VERSION][-3:]
    return [validate.Failure("api_version", f"api_version {api!r} is not supported by the installed "
                                            f"azure-storage-blob; use one of {', '.join(newest)} (Azurite 3.37 "
                                            f"accepts at most {AZURITE_MAX_API_VERSION}) or leave it unset")]


class AzureBlobContainer(Resource, module="storage", name="AzureBlobContainer"):
    """A blob container in an existing storage account (type ``pulumi-python:dynamic/storage:AzureBlobContainer``).

    Authenticate with ``connection_string`` or ``account_name`` + ``account_key`` (stored as secrets), or
    ambiently (see module docs). ``blob_endpoint`` overrides the account URL (Azurite, sovereign clouds).
    """

    container: pulumi.Output[str]
    account_name: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    api_version: pulumi.Output[str | None]
    metadata: pulumi.Output[dict[str, str]]
    force_destroy: pulumi.Output[bool]
    url: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        container: pulumi.Input[str],
        account_name: pulumi.Input[str] | None = None,
        account_key: pulumi.Input[str] | None = None,
        connection_string: pulumi.Input[str] | None = None,
        blob_endpoint: pulumi.Input[str] | None = None,
        api_version: pulumi.Input[str] | None = None,
        metadata: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        force_destroy: pulumi.Input[bool] = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        self._account_key = secret_or_none(account_key)
        self._connection_string = secret_or_none(connection_string)
        props: dict[str, Any] = {
            "container": container,
            "account_name": account_name,
            "account_key": self._account_key,
            "connection_string": self._connection_string,
            "blob_endpoint": blob_endpoint,
            "api_version": api_version,
            "metadata": metadata if metadata is not None else {},
            "force_destroy": force_destroy,
            "url": None,
        }
        super().__init__(AzureBlobContainerProvider(), resource_name, props, with_secret_outputs(opts, SECRET_KEYS))

    def registry_storage(self, account_key: pulumi.Input[str] | None = None) -> pulumi.Output[dict[str, Any]]:
        """The ``image_registry.registry.storage`` block: ``{"azure": {...}}`` (KubeKey key names).

        ``accountkey`` comes from ``account_key`` (argument or this container's), else from the
        connection string. ``serviceurl`` appears only for a non-standard endpoint. Secret whenever a
        key is present.
        """
        key = secret_or_none(account_key) if account_key is not None else self._account_key
        conn = self._connection_string

        def build(args: list[Any]) -> dict[str, Any]:
            container, account, endpoint, keyv, connv = args
            if not keyv and connv:
                keyv = connection_parts(connv).get("AccountKey")
            return {"azure": azure_storage_block(account, keyv, container, endpoint)}

        block = pulumi.Output.all(self.container, self.account_name, self.blob_endpoint, key, conn).apply(build)
        return pulumi.Output.secret(block) if key is not None or conn is not None else block


def azure_storage_block(account: str, account_key: str | None, container: str, endpoint: str | None) -> dict[str, Any]:
    """The distribution ``azure`` driver settings (plain values)."""
    realm, service_url = realm_and_service_url(account, endpoint)
    block: dict[str, Any] = {
        "accountname": account,
        "accountkey": account_key or "",
        "container": container,
        "realm": realm,
    }
    if service_url:
        block["serviceurl"] = service_url
    return block
