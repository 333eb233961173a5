"""S3BucketProvider against moto's S3 server: create/read/diff/update/delete with real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config as DynConfig

from pulumi_kk.storage.s3 import S3BucketProvider

pytestmark = pytest.mark.emulator

AK, SK = "AKIAKKSTORAGETEST", "kk-storage-test-secret"


@pytest.fixture(autouse=True)
def _clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No ambient AWS credentials/profiles leak into the provider (or out of this machine)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _s3(endpoint: str, region: str = "us-east-1") -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=AK,
                        aws_secret_access_key=SK, config=Config(s3={"addressing_style": "path"}))


def _name() -> str:
    return f"kk-test-{uuid.uuid4().hex[:12]}"


def _inputs(prov: S3BucketProvider, endpoint: str, **kw: Any) -> dict[str, Any]:
    news = {"bucket": _name(), "endpoint": endpoint, "access_key": AK, "secret_key": SK, **kw}
    res = prov.check({}, news)
    assert res.failures == [], [f.reason for f in res.failures]
    return dict(res.inputs)


@pytest.fixture
def prov() -> S3BucketProvider:
    return S3BucketProvider()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record every S3 API operation (name, params) that provider-built clients send."""
    recorded: list[tuple[str, dict[str, Any]]] = []
    original = boto3.session.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        c = original(self, *args, **kwargs)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            recorded.append((model.name, params))

        c.meta.events.register("provide-client-params.s3.*", record)
        return c

    monkeypatch.setattr(boto3.session.Session, "client", client)
    yield recorded


def test_create_applies_every_setting(prov: S3BucketProvider, moto_s3: Any) -> None:
    props = _inputs(prov, moto_s3.endpoint, region="eu-west-1", versioning=True, tags={"team": "kk"})
    res = prov.create(props)
    name = props["bucket"]
    assert res.id == name
    assert res.outs is not None and res.outs["arn"] == f"arn:aws:s3:::{name}"
    s3 = _s3(moto_s3.endpoint, "eu-west-1")
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "kk"}]
    # objects written now inherit default encryption (moto applies it like AWS)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert s3.head_object(Bucket=name, Key="k")["ServerSideEncryption"] == "AES256"


def test_create_kms_sends_key_id(prov: S3BucketProvider, moto_s3: Any, calls: list[Any]) -> None:
    props = _inputs(prov, moto_s3.endpoint, encryption="aws:kms", kms_key_id="alias/registry")
    outs = prov.create(props).outs
    assert outs is not None
    sent = [p for op, p in calls if op == "PutBucketEncryption"]
    assert sent[0]["ServerSideEncryptionConfiguration"]["Rules"][0] == {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/registry"},
        "BucketKeyEnabled": True,
    }
    read = prov.read(props["bucket"], outs)
    assert read.outs is not None
    assert (read.outs["encryption"], read.outs["kms_key_id"]) == ("aws:kms", "alias/registry")
    prov.delete(props["bucket"], props)


def test_create_us_east_1_has_no_location_constraint(prov: S3BucketProvider, moto_s3: Any,
                                                     calls: list[Any]) -> None:
    props = _inputs(prov, moto_s3.endpoint, encryption="", block_public_access=False)
    assert props["region"] == "us-east-1"  # default for custom endpoints
    prov.create(props)
    ops = [op for op, _ in calls]
    assert ops == ["HeadBucket", "CreateBucket"]  # nothing else configured for a plain bucket
    assert "CreateBucketConfiguration" not in calls[1][1]


def test_create_refuses_to_adopt_existing_bucket(prov: S3BucketProvider, moto_s3: Any) -> None:
    props = _inputs(prov, moto_s3.endpoint)
    _s3(moto_s3.endpoint).create_bucket(Bucket=props["bucket"])
    with pytest.raises(RuntimeError, match="already exists; refusing to adopt"):
        prov.create(props)


def test_read_reports_live_state_and_diff_sees_drift(prov: S3BucketProvider, moto_s3: Any) -> None:
    props = _inputs(prov, moto_s3.endpoint, tags={"a": "1"})
    outs = prov.create(props).outs
    assert outs is not None
    name = props["bucket"]
    same = prov.read(name, outs)
    assert same.id == name and same.outs == outs and same.inputs is not None
    assert not prov.diff(name, same.outs, props).changes

    s3 = _s3(moto_s3.endpoint)  # drift made outside Pulumi
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.delete_bucket_tagging(Bucket=name)
    s3.delete_public_access_block(Bucket=name)
    drifted = prov.read(name, outs)
    assert drifted.outs is not None and drifted.inputs is not None
    assert drifted.outs["versioning"] is True
    assert drifted.outs["tags"] == {}
    assert drifted.outs["block_public_access"] is False
    assert drifted.inputs["secret_key"] == SK and "arn" not in drifted.inputs
    d = prov.diff(name, drifted.outs, props)
    assert d.changes and d.replaces == []

    prov.update(name, drifted.outs, props)  # `pulumi up` after refresh converges back
    again = prov.read(name, outs)
    assert again.outs is not None
    assert (again.outs["versioning"], again.outs["tags"], again.outs["block_public_access"]) == (False, {"a": "1"},
                                                                                                 True)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"


def test_read_missing_bucket_returns_empty_id(prov: S3BucketProvider, moto_s3: Any) -> None:
    props = _inputs(prov, moto_s3.endpoint)
    assert prov.read(props["bucket"], props).id == ""


def test_update_toggles_versioning_and_sends_only_changes(prov: S3BucketProvider, moto_s3: Any,
                                                          calls: list[Any]) -> None:
    old = _inputs(prov, moto_s3.endpoint)
    name = old["bucket"]
    prov.create(old)
    s3 = _s3(moto_s3.endpoint)
    new = {**old, "versioning": True}
    diff = prov.diff(name, old, new)
    assert diff.changes and diff.replaces == [] and not diff.delete_before_replace
    calls.clear()
    prov.update(name, old, new)
    assert [op for op, _ in calls] == ["PutBucketVersioning"]
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    prov.update(name, new, old)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"

    cleared = {**old, "encryption": "", "block_public_access": False, "tags": {}}
    prov.update(name, {**old, "tags": {"x": "y"}}, cleared)
    with pytest.raises(ClientError, match="ServerSideEncryptionConfigurationNotFound"):
        s3.get_bucket_encryption(Bucket=name)
    with pytest.raises(ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=name)


def test_delete_is_idempotent(prov: S3BucketProvider, moto_s3: Any) -> None:
    props = _inputs(prov, moto_s3.endpoint)
    prov.delete(props["bucket"], props)  # never created
    prov.create(props)
    prov.delete(props["bucket"], props)
    prov.delete(props["bucket"], props)
    with pytest.raises(ClientError):
        _s3(moto_s3.endpoint).head_bucket(Bucket=props["bucket"])


def test_delete_refuses_non_empty_until_force_destroy(prov: S3BucketProvider, moto_s3: Any) -> None:
    props = _inputs(prov, moto_s3.endpoint, versioning=True)
    name = props["bucket"]
    prov.create(props)
    s3 = _s3(moto_s3.endpoint)
    s3.put_object(Bucket=name, Key="docker/registry/v2/blob", Body=b"v1")
    s3.put_object(Bucket=name, Key="docker/registry/v2/blob", Body=b"v2")
    s3.delete_object(Bucket=name, Key="docker/registry/v2/blob")  # only versions + a delete marker remain
    s3.create_multipart_upload(Bucket=name, Key="pending")
    with pytest.raises(RuntimeError, match=r"not empty; refusing to delete it\. Set force_destroy=True"):
        prov.delete(name, props)
    s3.head_bucket(Bucket=name)  # still there
    forced = {**props, "force_destroy": True}
    assert prov.diff(name, props, forced).replaces == []  # a state-only update
    prov.delete(name, forced)
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_credentials_and_region_from_environment(prov: S3BucketProvider, moto_s3: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AK)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SK)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    res = prov.check({}, {"bucket": _name(), "endpoint": moto_s3.endpoint})
    assert res.failures == [] and res.inputs["region"] == "eu-central-1"
    assert "access_key" not in res.inputs  # ambient credentials never enter the state
    outs = prov.create(res.inputs).outs
    assert outs is not None and outs["access_key"] is None and outs["secret_key"] is None
    assert _s3(moto_s3.endpoint, "eu-central-1").get_bucket_location(
        Bucket=res.inputs["bucket"])["LocationConstraint"] == "eu-central-1"
    prov.delete(res.inputs["bucket"], outs)


def test_credentials_and_region_from_stack_config(prov: S3BucketProvider, moto_s3: Any) -> None:
    prov.configure(ConfigureRequest(DynConfig({"aws:region": "ap-south-1", "aws:accessKey": AK,
                                               "aws:secretKey": SK, "other:key": "ignored"}, "proj")))
    res = prov.check({}, {"bucket": _name(), "endpoint": moto_s3.endpoint})
    assert res.inputs["region"] == "ap-south-1"
    outs = prov.create(res.inputs).outs
    assert outs is not None
    assert _s3(moto_s3.endpoint, "ap-south-1").get_bucket_location(
        Bucket=res.inputs["bucket"])["LocationConstraint"] == "ap-south-1"
    prov.delete(res.inputs["bucket"], outs)
