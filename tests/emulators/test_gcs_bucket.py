"""GcsBucketProvider against fake-gcs-server (memory backend) over real HTTP.

fake-gcs-server keeps versioning but drops location (always US-CENTRAL1) and uniform bucket-level
access, so for those the tests assert on the JSON request the SDK sends.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pulumi_kk.storage.gcs import GcsBucketProvider

pytestmark = pytest.mark.emulator

PROJECT = "kk-test-project"


@pytest.fixture(autouse=True)
def _clean_gcp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
                "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(var, raising=False)


def _gcs(endpoint: str) -> storage.Client:
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                          client_options={"api_endpoint": endpoint})


def _name() -> str:
    return f"kk-test-{uuid.uuid4().hex[:12]}"


def _inputs(prov: GcsBucketProvider, endpoint: str, **kw: Any) -> dict[str, Any]:
    res = prov.check({}, {"bucket": _name(), "project": PROJECT, "endpoint": endpoint, **kw})
    assert res.failures == [], [f.reason for f in res.failures]
    return dict(res.inputs)


@pytest.fixture
def prov() -> GcsBucketProvider:
    return GcsBucketProvider()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, Any]]]:
    """Record (method, url, json body) of every HTTP request made through ``requests``."""
    recorded: list[tuple[str, str, Any]] = []
    original = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("data")
        try:
            parsed = json.loads(body) if isinstance(body, (str, bytes)) else kwargs.get("json")
        except ValueError:
            parsed = None
        recorded.append((method.upper(), url, parsed))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    yield recorded


def test_create_sends_all_settings_and_emulator_keeps_versioning(prov: GcsBucketProvider, fake_gcs: Any,
                                                                 sent: list[Any]) -> None:
    props = _inputs(prov, fake_gcs.endpoint, location="eu", versioning=True)
    assert props["location"] == "EU" and props["uniform_bucket_level_access"] is True
    res = prov.create(props)
    assert res.id == props["bucket"]
    assert res.outs is not None and res.outs["url"] == f"gs://{props['bucket']}"
    posts = [(url, body) for method, url, body in sent if method == "POST" and "/storage/v1/b" in url]
    assert len(posts) == 1
    url, body = posts[0]
    assert url.startswith(fake_gcs.endpoint) and f"project={PROJECT}" in url
    assert body["name"] == props["bucket"]
    assert body["location"] == "EU"  # dropped by the emulator, so asserted on the request
    assert body["versioning"] == {"enabled": True}
    assert body["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
    live = _gcs(fake_gcs.endpoint).get_bucket(props["bucket"])
    assert live.versioning_enabled is True


def test_create_refuses_to_adopt_existing_bucket(prov: GcsBucketProvider, fake_gcs: Any) -> None:
    props = _inputs(prov, fake_gcs.endpoint)
    _gcs(fake_gcs.endpoint).create_bucket(props["bucket"])
    with pytest.raises(RuntimeError, match="already exists; refusing to adopt"):
        prov.create(props)


def test_read_returns_emulator_state(prov: GcsBucketProvider, fake_gcs: Any) -> None:
    props = _inputs(prov, fake_gcs.endpoint, versioning=True)
    outs = prov.create(props).outs
    assert outs is not None
    read = prov.read(props["bucket"], outs)
    assert read.id == props["bucket"] and read.outs is not None and read.inputs is not None
    assert read.outs["versioning"] is True
    assert read.outs["location"] == "US-CENTRAL1"  # what fake-gcs-server reports, whatever was asked
    assert "url" not in read.inputs and read.inputs["project"] == PROJECT
    d = prov.diff(props["bucket"], read.outs, props)  # drift in location shows as a replacement
    assert d.replaces == ["location"] and d.delete_before_replace


def test_read_missing_bucket_returns_empty_id(prov: GcsBucketProvider, fake_gcs: Any) -> None:
    props = _inputs(prov, fake_gcs.endpoint)
    assert prov.read(props["bucket"], props).id == ""


def test_update_toggles_versioning(prov: GcsBucketProvider, fake_gcs: Any, sent: list[Any]) -> None:
    old = _inputs(prov, fake_gcs.endpoint, versioning=True)
    name = old["bucket"]
    prov.create(old)
    new = {**old, "versioning": False}
    d = prov.diff(name, old, new)
    assert d.changes and d.replaces == []
    sent.clear()
    prov.update(name, old, new)
    patches = [body for method, _, body in sent if method == "PATCH"]
    assert patches == [{"versioning": {"enabled": False}}]
    assert _gcs(fake_gcs.endpoint).get_bucket(name).versioning_enabled is False
    prov.update(name, new, old)
    assert _gcs(fake_gcs.endpoint).get_bucket(name).versioning_enabled is True
    sent.clear()
    prov.update(name, old, {**old, "uniform_bucket_level_access": False})
    methods = [method for method, _, _ in sent]
    assert methods == ["GET", "PATCH"]  # iamConfiguration is read first, so other fields in it are kept
    patch = sent[1][2]
    assert set(patch) == {"iamConfiguration"}
    assert patch["iamConfiguration"]["uniformBucketLevelAccess"] == {"enabled": False}
    sent.clear()
    prov.update(name, old, {**old, "force_destroy": True})  # state-only: no request at all
    assert sent == []


def test_delete_is_idempotent(prov: GcsBucketProvider, fake_gcs: Any) -> None:
    props = _inputs(prov, fake_gcs.endpoint)
    prov.delete(props["bucket"], props)
    prov.create(props)
    prov.delete(props["bucket"], props)
    prov.delete(props["bucket"], props)
    assert _gcs(fake_gcs.endpoint).lookup_bucket(props["bucket"]) is None


@pytest.mark.parametrize("versioning", [False, True])
def test_delete_refuses_non_empty_until_force_destroy(prov: GcsBucketProvider, fake_gcs: Any,
                                                      versioning: bool) -> None:
    props = _inputs(prov, fake_gcs.endpoint, versioning=versioning)
    name = props["bucket"]
    prov.create(props)
    client = _gcs(fake_gcs.endpoint)
    for i in range(3):
        client.bucket(name).blob(f"docker/registry/v2/blob-{i}").upload_from_string(b"data")
        client.bucket(name).blob(f"docker/registry/v2/blob-{i}").upload_from_string(b"data, again")
    with pytest.raises(RuntimeError, match=r"not empty; refusing to delete it\. Set force_destroy=True"):
        prov.delete(name, props)
    assert client.lookup_bucket(name) is not None
    prov.delete(name, {**props, "force_destroy": True})
    assert client.lookup_bucket(name) is None


def test_storage_emulator_host_and_project_from_environment(prov: GcsBucketProvider, fake_gcs: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.endpoint)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    res = prov.check({}, {"bucket": _name()})
    assert res.failures == [] and res.inputs["project"] == PROJECT
    outs = prov.create(res.inputs).outs
    assert outs is not None and outs["endpoint"] is None and outs["credentials"] is None
    assert _gcs(fake_gcs.endpoint).lookup_bucket(res.inputs["bucket"]) is not None
    prov.delete(res.inputs["bucket"], outs)
