"""AzureBlobContainerProvider against Azurite (real SharedKey auth, pinned API version)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config as DynConfig

from pulumi_kk.storage.azure import AzureBlobContainerProvider

pytestmark = pytest.mark.emulator

API = "2026-06-06"


@pytest.fixture(autouse=True)
def _clean_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"):
        monkeypatch.delenv(var, raising=False)


def _container(azurite: Any, name: str) -> ContainerClient:
    svc = BlobServiceClient.from_connection_string(azurite.extra["connection_string"], api_version=API)
    return svc.get_container_client(name)


def _name() -> str:
    return f"kk-test-{uuid.uuid4().hex[:12]}"


def _inputs(prov: AzureBlobContainerProvider, azurite: Any, **kw: Any) -> dict[str, Any]:
    news = {"container": _name(), "connection_string": azurite.extra["connection_string"], "api_version": API, **kw}
    res = prov.check({}, news)
    assert res.failures == [], [f.reason for f in res.failures]
    return dict(res.inputs)


@pytest.fixture
def prov() -> AzureBlobContainerProvider:
    return AzureBlobContainerProvider()


@pytest.fixture
def versions_sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the x-ms-version header of every request azure-core sends through ``requests``."""
    seen: list[str] = []
    original = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        seen.append(str(headers.get("x-ms-version")))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    yield seen


def test_check_derives_account_and_endpoint_from_connection_string(prov: AzureBlobContainerProvider,
                                                                   azurite: Any) -> None:
    props = _inputs(prov, azurite)
    assert props["account_name"] == "devstoreaccount1"
    assert props["blob_endpoint"] == azurite.extra["blob_endpoint"]


def test_create_with_connection_string_keeps_metadata(prov: AzureBlobContainerProvider, azurite: Any,
                                                      versions_sent: list[str]) -> None:
    props = _inputs(prov, azurite, metadata={"owner": "kk"})
    res = prov.create(props)
    assert res.id == f"devstoreaccount1/{props['container']}"
    assert res.outs is not None and res.outs["url"] == f"{azurite.extra['blob_endpoint']}/{props['container']}"
    assert _container(azurite, props["container"]).get_container_properties().metadata == {"owner": "kk"}
    assert versions_sent and set(versions_sent) == {API}  # the pin reaches the wire


def test_create_with_account_name_and_key(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    res = prov.check({}, {"container": _name(), "account_name": "devstoreaccount1", "api_version": API,
                          "account_key": azurite.extra["account_key"],
                          "blob_endpoint": azurite.extra["blob_endpoint"]})
    assert res.failures == []
    prov.create(res.inputs)
    assert _container(azurite, res.inputs["container"]).exists()


def test_wrong_key_is_rejected(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    res = prov.check({}, {"container": _name(), "account_name": "devstoreaccount1", "api_version": API,
                          "account_key": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=",
                          "blob_endpoint": azurite.extra["blob_endpoint"]})
    with pytest.raises((ClientAuthenticationError, HttpResponseError)):
        prov.create(res.inputs)


def test_unpinned_default_api_version_is_refused_by_azurite(prov: AzureBlobContainerProvider,
                                                            azurite: Any) -> None:
    props = _inputs(prov, azurite)
    del props["api_version"]
    with pytest.raises(HttpResponseError, match="API version"):
        prov.create(props)


def test_create_refuses_to_adopt_existing_container(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    props = _inputs(prov, azurite)
    _container(azurite, props["container"]).create_container()
    with pytest.raises(RuntimeError, match="already exists in account 'devstoreaccount1'; refusing to adopt"):
        prov.create(props)


def test_read_reports_live_metadata(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    props = _inputs(prov, azurite, metadata={"a": "1"})
    outs = prov.create(props).outs
    assert outs is not None
    same = prov.read(f"devstoreaccount1/{props['container']}", outs)
    assert same.outs == outs and same.inputs is not None
    assert not prov.diff(same.id or "", same.outs, props).changes
    _container(azurite, props["container"]).set_container_metadata({"a": "2", "b": "x"})
    drifted = prov.read(same.id or "", outs)
    assert drifted.outs is not None and drifted.outs["metadata"] == {"a": "2", "b": "x"}
    d = prov.diff(same.id or "", drifted.outs, props)
    assert d.changes and d.replaces == []


def test_read_missing_container_returns_empty_id(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    props = _inputs(prov, azurite)
    assert prov.read(f"devstoreaccount1/{props['container']}", props).id == ""


def test_update_metadata(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    old = _inputs(prov, azurite, metadata={"a": "1"})
    prov.create(old)
    new = {**old, "metadata": {"a": "1", "tier": "registry"}}
    d = prov.diff("x", old, new)
    assert d.changes and d.replaces == []
    prov.update("x", old, new)
    assert _container(azurite, old["container"]).get_container_properties().metadata == new["metadata"]
    assert prov.diff("x", old, {**old, "container": _name()}).replaces == ["container"]


def test_delete_is_idempotent(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    props = _inputs(prov, azurite)
    prov.delete("x", props)
    prov.create(props)
    prov.delete("x", props)
    prov.delete("x", props)
    assert not _container(azurite, props["container"]).exists()


def test_delete_refuses_non_empty_until_force_destroy(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    props = _inputs(prov, azurite)
    prov.create(props)
    cc = _container(azurite, props["container"])
    cc.upload_blob("docker/registry/v2/blob", b"layer")
    with pytest.raises(RuntimeError, match=r"not empty; refusing to delete it\. Set force_destroy=True"):
        prov.delete("x", props)
    assert cc.exists()
    prov.delete("x", {**props, "force_destroy": True})
    assert not cc.exists()


def test_credentials_from_environment(prov: AzureBlobContainerProvider, azurite: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.extra["connection_string"])
    res = prov.check({}, {"container": _name(), "api_version": API})
    assert res.failures == [] and res.inputs["account_name"] == "devstoreaccount1"
    assert "connection_string" not in res.inputs  # ambient credentials never enter the state
    outs = prov.create(res.inputs).outs
    assert outs is not None and _container(azurite, res.inputs["container"]).exists()
    prov.delete("x", outs)


def test_credentials_from_stack_config(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    prov.configure(ConfigureRequest(DynConfig({
        "pulumi-kk:azureStorageAccount": "devstoreaccount1",
        "pulumi-kk:azureStorageKey": azurite.extra["account_key"],
    }, "proj")))
    res = prov.check({}, {"container": _name(), "api_version": API, "blob_endpoint": azurite.extra["blob_endpoint"]})
    assert res.failures == [] and res.inputs["account_name"] == "devstoreaccount1"
    prov.create(res.inputs)
    assert _container(azurite, res.inputs["container"]).exists()


def test_credentials_for_another_account_are_refused(prov: AzureBlobContainerProvider, azurite: Any) -> None:
    props = _inputs(prov, azurite)
    other = azurite.extra["connection_string"].replace("AccountName=devstoreaccount1", "AccountName=otheraccount")
    with pytest.raises(RuntimeError, match="connection string is for account 'otheraccount'"):
        prov.delete("x", {**props, "connection_string": other})
