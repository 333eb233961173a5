"""Provider ``check``/``diff`` logic without any server: defaults, failures, replaces, secrets, unknowns."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config as DynConfig
from pulumi.runtime import rpc

from pulumi_kk.storage.azure import AzureBlobContainerProvider, connection_parts, realm_and_service_url
from pulumi_kk.storage.common import UNKNOWN, diff_props
from pulumi_kk.storage.gcs import GcsBucketProvider
from pulumi_kk.storage.s3 import S3BucketProvider

AZ_KEY = "a2V5LWZvci11bml0LXRlc3RzLW9ubHk="
CONN = f"DefaultEndpointsProtocol=https;AccountName=kkreg;AccountKey={AZ_KEY};EndpointSuffix=core.windows.net"


@pytest.fixture(autouse=True)
def _no_ambient_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT",
                "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"):
        monkeypatch.delenv(var, raising=False)


def failures(res: Any) -> list[tuple[str, str]]:
    return [(f.property, f.reason) for f in res.failures]


# ------------------------------------------------------------------------------------------------ diff

def test_diff_props_semantics() -> None:
    olds = {"bucket": "a", "versioning": False, "tags": {"x": "1"}, "secret": "s", "gone": None}
    news = {"bucket": "a", "versioning": False, "tags": {"x": "1"}, "secret": rpc.wrap_rpc_secret("s")}
    keys = ("bucket", "versioning", "tags", "secret", "gone")
    same = diff_props(olds, news, keys, ["bucket"])
    assert same.changes is False and same.replaces == [] and same.delete_before_replace is False
    assert same.stables == ["bucket"]

    upd = diff_props(olds, {**news, "versioning": True}, keys, ["bucket"])
    assert upd.changes is True and upd.replaces == [] and not upd.delete_before_replace

    rep = diff_props(olds, {**news, "bucket": "b", "tags": {}}, keys, ["bucket"])
    assert rep.changes and rep.replaces == ["bucket"] and rep.delete_before_replace and rep.stables == []

    unknown = diff_props(olds, {**news, "bucket": UNKNOWN}, keys, ["bucket"])  # preview: name not known yet
    assert unknown.replaces == ["bucket"]
    secret_change = diff_props(olds, {**news, "secret": rpc.wrap_rpc_secret("rotated")}, keys, ["bucket"])
    assert secret_change.changes and secret_change.replaces == []


S3_OLD: dict[str, Any] = {"bucket": "kk-b", "region": "eu-west-1", "endpoint": None, "versioning": False, "encryption": "AES256",
          "kms_key_id": None, "block_public_access": True, "force_destroy": False, "tags": {},
          "access_key": "AK", "secret_key": "SK", "arn": "arn:aws:s3:::kk-b"}


@pytest.mark.parametrize(("change", "replaces"), [
    ({"bucket": "kk-c"}, ["bucket"]),
    ({"region": "eu-west-2"}, ["region"]),
    ({"endpoint": "http://minio:9000"}, ["endpoint"]),
    ({"versioning": True}, []),
    ({"encryption": "aws:kms", "kms_key_id": "alias/k"}, []),
    ({"block_public_access": False}, []),
    ({"force_destroy": True}, []),
    ({"tags": {"a": "b"}}, []),
    ({"secret_key": "rotated"}, []),
])
def test_s3_diff(change: dict[str, Any], replaces: list[str]) -> None:
    news = {k: v for k, v in S3_OLD.items() if k != "arn"}
    d = S3BucketProvider().diff("kk-b", S3_OLD, {**news, **change})
    assert d.changes is True and d.replaces == replaces and d.delete_before_replace == bool(replaces)
    assert S3BucketProvider().diff("kk-b", S3_OLD, news).changes is False  # computed outputs are ignored


def test_gcs_and_azure_replace_keys() -> None:
    gold = {"bucket": "kk-b", "project": "kk-proj-1", "location": "EU", "uniform_bucket_level_access": True,
            "versioning": False, "force_destroy": False, "url": "gs://kk-b"}
    g = GcsBucketProvider()
    assert g.diff("kk-b", gold, {**gold, "location": "US"}).replaces == ["location"]
    assert g.diff("kk-b", gold, {**gold, "project": "kk-proj-2"}).replaces == ["project"]
    assert g.diff("kk-b", gold, {**gold, "uniform_bucket_level_access": False}).replaces == []
    aold = {"container": "registry", "account_name": "kkreg", "blob_endpoint": "https://kkreg.blob.core.windows.net",
            "metadata": {}, "force_destroy": False, "connection_string": CONN}
    a = AzureBlobContainerProvider()
    assert a.diff("x", aold, {**aold, "account_name": "other"}).replaces == ["account_name"]
    assert a.diff("x", aold, {**aold, "metadata": {"a": "b"}}).replaces == []
    assert a.diff("x", aold, {**aold, "api_version": "2026-06-06"}).replaces == []


# ------------------------------------------------------------------------------------------------ S3 check

def test_s3_check_defaults_and_region_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    p = S3BucketProvider()
    res = p.check({}, {"bucket": "kk-b"})
    assert failures(res) == [("region", "region is required; set region= or aws:region, or export AWS_REGION")]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    res = p.check({}, {"bucket": "kk-b"})
    assert failures(res) == []
    assert {k: res.inputs[k] for k in ("region", "versioning", "encryption", "block_public_access",
                                       "force_destroy", "tags")} == {
        "region": "eu-north-1", "versioning": False, "encryption": "AES256", "block_public_access": True,
        "force_destroy": False, "tags": {}}
    p.configure(ConfigureRequest(DynConfig({"aws:region": "sa-east-1"}, "proj")))
    assert p.check({}, {"bucket": "kk-b"}).inputs["region"] == "sa-east-1"  # config beats environment
    assert p.check({}, {"bucket": "kk-b", "region": "us-west-2"}).inputs["region"] == "us-west-2"
    assert p.check({}, {"bucket": "kk-b", "encryption": ""}).inputs["encryption"] == ""


def test_s3_check_keeps_secrets_wrapped_and_skips_unknowns() -> None:
    p = S3BucketProvider()
    res = p.check({}, {"bucket": UNKNOWN, "region": "eu-west-1", "access_key": rpc.wrap_rpc_secret("AK"),
                       "secret_key": rpc.wrap_rpc_secret("SK")})
    assert failures(res) == []  # an unknown name is validated once it is known
    assert rpc.is_rpc_secret(res.inputs["access_key"]) and rpc.is_rpc_secret(res.inputs["secret_key"])
    bad = p.check({}, {"bucket": "Bad", "region": "eu-west-1", "endpoint": "ftp://x"})
    assert [f[0] for f in failures(bad)] == ["bucket", "endpoint"]


def test_providers_keep_no_state_after_calls() -> None:
    """Clients are built per call; nothing (client, credentials) is left on the instance."""
    for prov, news in ((S3BucketProvider(), {"bucket": "kk-b", "region": "eu-west-1", "secret_key": "SK"}),
                       (GcsBucketProvider(), {"bucket": "kk-b", "project": "kk-proj-1"}),
                       (AzureBlobContainerProvider(), {"container": "registry", "connection_string": CONN})):
        prov.check({}, news)
        prov.diff("x", news, news)
        assert vars(prov) == {}


# ------------------------------------------------------------------------------------------------ GCS check

def test_gcs_check(monkeypatch: pytest.MonkeyPatch) -> None:
    p = GcsBucketProvider()
    res = p.check({}, {"bucket": "kk-b"})
    assert failures(res) == [("project", "project is required; set project=, gcp:project, or export "
                                         "GOOGLE_CLOUD_PROJECT")]
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "kk-proj-1")
    res = p.check({}, {"bucket": "kk-b", "location": "europe-west1"})
    assert failures(res) == [] and res.inputs["project"] == "kk-proj-1"
    assert res.inputs["location"] == "EUROPE-WEST1" and res.inputs["uniform_bucket_level_access"] is True
    secret = rpc.wrap_rpc_secret('{"type": "service_account", "private_key": "PRIVATE-MATERIAL"}')
    res = p.check({}, {"bucket": "kk-b", "credentials": secret})
    assert failures(res) == [("credentials", "credentials lacks client_email; download a complete key file")]
    assert "PRIVATE-MATERIAL" not in str(failures(res)) and rpc.is_rpc_secret(res.inputs["credentials"])


# ------------------------------------------------------------------------------------------------ Azure check

def test_azure_check_derives_account_and_endpoint() -> None:
    p = AzureBlobContainerProvider()
    res = p.check({}, {"container": "registry", "connection_string": rpc.wrap_rpc_secret(CONN)})
    assert failures(res) == []
    assert res.inputs["account_name"] == "kkreg"
    assert res.inputs["blob_endpoint"] == "https://kkreg.blob.core.windows.net"
    assert rpc.is_rpc_secret(res.inputs["connection_string"]) and res.inputs["metadata"] == {}
    res = p.check({}, {"container": "registry", "account_name": "kkreg", "account_key": AZ_KEY})
    assert failures(res) == [] and res.inputs["blob_endpoint"] == "https://kkreg.blob.core.windows.net"
    res = p.check({}, {"container": "registry", "connection_string": "UseDevelopmentStorage=true"})
    assert res.inputs["account_name"] == "devstoreaccount1"
    assert res.inputs["blob_endpoint"] == "http://127.0.0.1:10000/devstoreaccount1"


def test_azure_check_failures() -> None:
    p = AzureBlobContainerProvider()
    assert failures(p.check({}, {"container": "registry"})) == [
        ("account_name", "no storage account: pass connection_string=, or account_name= with account_key=, or "
                         "export AZURE_STORAGE_CONNECTION_STRING")]
    assert failures(p.check({}, {"container": "registry", "account_key": AZ_KEY})) == [
        ("account_name", "account_key needs account_name: pass connection_string=, or account_name= with "
                         "account_key=, or export AZURE_STORAGE_CONNECTION_STRING")]
    both = p.check({}, {"container": "registry", "connection_string": CONN, "account_key": AZ_KEY})
    assert ("connection_string", "pass either connection_string or account_name + account_key, not both") \
        in failures(both)
    broken = p.check({}, {"container": "registry", "connection_string": f"AccountKey={AZ_KEY};oops"})
    assert failures(broken)[0][0] == "connection_string" and AZ_KEY not in failures(broken)[0][1]
    mismatch = p.check({}, {"container": "registry", "connection_string": CONN, "account_name": "other1"})
    assert failures(mismatch) == [("account_name", "account_name 'other1' differs from the connection string's "
                                                   "AccountName 'kkreg'; make them agree or drop one")]
    old_api = p.check({}, {"container": "registry", "connection_string": CONN, "api_version": "2001-01-01"})
    [(prop, reason)] = failures(old_api)
    assert prop == "api_version" and reason.startswith("api_version '2001-01-01' is not supported by the installed "
                                                       "azure-storage-blob; use one of ")
    assert reason.endswith("(Azurite 3.37 accepts at most 2026-06-06) or leave it unset")


def test_azure_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "envacct")
    monkeypatch.setenv("AZURE_STORAGE_KEY", AZ_KEY)
    res = AzureBlobContainerProvider().check({}, {"container": "registry"})
    assert failures(res) == [] and res.inputs["account_name"] == "envacct"
    assert "account_key" not in res.inputs  # ambient secrets never enter the inputs
    p = AzureBlobContainerProvider()
    p.configure(ConfigureRequest(DynConfig({"pulumi-kk:azureStorageConnectionString": CONN}, "proj")))
    assert p.check({}, {"container": "registry"}).inputs["account_name"] == "kkreg"  # config beats env


def test_azure_connection_parts_and_realm() -> None:
    assert connection_parts(CONN) == {"AccountName": "kkreg", "AccountKey": AZ_KEY,
                                      "BlobEndpoint": "https://kkreg.blob.core.windows.net"}
    with pytest.raises(ValueError, match="no AccountName"):
        connection_parts(f"AccountKey={AZ_KEY}")
    assert realm_and_service_url("kkreg", None) == ("core.windows.net", None)
    assert realm_and_service_url("kkreg", "https://kkreg.blob.core.chinacloudapi.cn/") == ("core.chinacloudapi.cn",
                                                                                           None)
    assert realm_and_service_url("kkreg", "https://kkreg.blob.core.windows.net:8443") == (
        "core.windows.net", "https://kkreg.blob.core.windows.net:8443")
    assert realm_and_service_url("devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1/") == (
        "core.windows.net", "http://127.0.0.1:10000/devstoreaccount1")
