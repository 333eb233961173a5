"""Drive the providers through the SDK's real dynamic-provider host (``python -m pulumi.dynamic``) over gRPC.

This is the engine's code path: the provider is pickled with ``serialize_provider``, sent as
``__provider``, unpickled in a fresh process (cwd ``/``, so the library must be importable from the
venv), and every property crosses protobuf via ``serialize_properties``/``deserialize_properties``.

Two secret paths are proven:
* secrets sent wrapped come back wrapped (Check inputs, Create/Read/Update outputs, Read inputs);
* with plain values (what the engine sends, as the host answers ``acceptSecrets: False``) credentials
  come back only under their own input names, which the engine re-marks secret from the inputs and
  from the resource's ``additional_secret_outputs``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import grpc
import pytest
from botocore.config import Config
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from pulumi_kk.storage import azure, s3
from pulumi_kk.storage.azure import AzureBlobContainerProvider
from pulumi_kk.storage.s3 import S3BucketProvider

pytestmark = pytest.mark.emulator

AK, SK = "AKIAKKHOSTTEST", "kk-host-secret-value-1234"
S3_URN = "urn:pulumi:test::kk::pulumi-python:dynamic/storage:S3Bucket::b"
AZ_URN = "urn:pulumi:test::kk::pulumi-python:dynamic/storage:AzureBlobContainer::c"


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return asyncio.run(rpc.serialize_properties(props, {}))


def _dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    out: dict[str, Any] = rpc.deserialize_properties(struct)
    return out


def _secret(value: str) -> dict[str, Any]:
    wrapped: dict[str, Any] = rpc.wrap_rpc_secret(value)
    return wrapped


def _keys_holding(props: dict[str, Any], needle: str) -> set[str]:
    """Top-level property names whose (unwrapped) value contains ``needle`` anywhere."""
    return {k for k, v in props.items() if k != "__provider" and needle in json.dumps(v, default=str)}


@pytest.fixture(scope="module")
def stub(dynamic_host: tuple[str, Any]) -> Iterator[Any]:
    address, _ = dynamic_host
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    client = provider_pb2_grpc.ResourceProviderStub(channel)
    # Stack config reaches providers through Configure (namespaced keys, as the engine sends them).
    client.Configure(proto.ConfigureRequest(args=_struct({"aws:region": "eu-west-2"}), acceptSecrets=False))
    yield client
    channel.close()


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)


def _moto(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id=AK,
                        aws_secret_access_key=SK, config=Config(s3={"addressing_style": "path"}))


def test_provider_is_pickled_by_reference() -> None:
    blob = base64.b64decode(serialize_provider(S3BucketProvider()))
    assert b"pulumi_kk.storage.s3" in blob and b"S3BucketProvider" in blob
    assert len(blob) < 400  # class reference + empty state, no captured clients or config


def test_s3_lifecycle_with_wrapped_secrets(stub: Any, moto_s3: Any) -> None:
    name = f"kk-host-{uuid.uuid4().hex[:10]}"
    news = {"__provider": serialize_provider(S3BucketProvider()), "bucket": name, "endpoint": moto_s3.endpoint,
            "access_key": _secret(AK), "secret_key": _secret(SK), "tags": {"via": "grpc"}}

    checked = stub.Check(proto.CheckRequest(urn=S3_URN, olds=_struct({}), news=_struct(news)))
    assert list(checked.failures) == []
    inputs = _dict(checked.inputs)
    assert inputs["region"] == "eu-west-2"  # from Configure
    assert rpc.is_rpc_secret(inputs["access_key"]) and rpc.is_rpc_secret(inputs["secret_key"])

    created = stub.Create(proto.CreateRequest(urn=S3_URN, properties=checked.inputs))
    assert created.id == name
    outs = _dict(created.properties)
    assert rpc.is_rpc_secret(outs["access_key"]) and rpc.is_rpc_secret(outs["secret_key"])
    assert outs["arn"] == f"arn:aws:s3:::{name}"
    assert _keys_holding(outs, SK) == {"secret_key"}
    client = _moto(moto_s3.endpoint)
    assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-2"

    read = stub.Read(proto.ReadRequest(id=name, urn=S3_URN, properties=created.properties, inputs=checked.inputs))
    assert read.id == name
    read_outs, read_inputs = _dict(read.properties), _dict(read.inputs)
    assert rpc.is_rpc_secret(read_outs["secret_key"]) and rpc.is_rpc_secret(read_inputs["secret_key"])
    assert read_outs["tags"] == {"via": "grpc"} and read_outs["versioning"] is False

    same = stub.Diff(proto.DiffRequest(id=name, urn=S3_URN, olds=created.properties, news=checked.inputs))
    assert same.changes == proto.DiffResponse.DIFF_NONE
    toggled = _struct({**inputs, "versioning": True})
    diff = stub.Diff(proto.DiffRequest(id=name, urn=S3_URN, olds=created.properties, news=toggled))
    assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    renamed = _struct({**inputs, "bucket": name + "-2"})
    diff = stub.Diff(proto.DiffRequest(id=name, urn=S3_URN, olds=created.properties, news=renamed))
    assert list(diff.replaces) == ["bucket"] and diff.deleteBeforeReplace

    updated = stub.Update(proto.UpdateRequest(id=name, urn=S3_URN, olds=created.properties, news=toggled))
    assert rpc.is_rpc_secret(_dict(updated.properties)["secret_key"])
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    client.put_object(Bucket=name, Key="blob", Body=b"x")
    with pytest.raises(grpc.RpcError) as err:
        stub.Delete(proto.DeleteRequest(id=name, urn=S3_URN, properties=updated.properties))
    assert "force_destroy=True" in (err.value.details() or "")
    forced = _struct({**_dict(updated.properties), "force_destroy": True})
    stub.Delete(proto.DeleteRequest(id=name, urn=S3_URN, properties=forced))
    stub.Delete(proto.DeleteRequest(id=name, urn=S3_URN, properties=forced))  # idempotent
    gone = stub.Read(proto.ReadRequest(id=name, urn=S3_URN, properties=forced))
    assert gone.id == ""


def test_s3_plain_credentials_only_under_secret_output_names(stub: Any, moto_s3: Any) -> None:
    name = f"kk-host-{uuid.uuid4().hex[:10]}"
    news = {"__provider": serialize_provider(S3BucketProvider()), "bucket": name, "endpoint": moto_s3.endpoint,
            "access_key": AK, "secret_key": SK}
    checked = stub.Check(proto.CheckRequest(urn=S3_URN, olds=_struct({}), news=_struct(news)))
    created = stub.Create(proto.CreateRequest(urn=S3_URN, properties=checked.inputs))
    outs = _dict(created.properties)
    assert _keys_holding(outs, SK) == {"secret_key"} and _keys_holding(outs, AK) == {"access_key"}
    assert set(s3.SECRET_KEYS) >= {"access_key", "secret_key"}  # the names S3Bucket marks secret
    stub.Delete(proto.DeleteRequest(id=name, urn=S3_URN, properties=created.properties))


def test_s3_check_failure_names_the_field(stub: Any) -> None:
    news = {"__provider": serialize_provider(S3BucketProvider()), "bucket": "Bad_Bucket", "region": "eu-west-1"}
    checked = stub.Check(proto.CheckRequest(urn=S3_URN, olds=_struct({}), news=_struct(news)))
    failures = [(f.property, f.reason) for f in checked.failures]
    assert failures == [("bucket", "bucket 'Bad_Bucket' contains 'B_'; S3 bucket names allow only lowercase "
                                   "letters, digits, '-' and '.'")]


def test_azure_connection_string_stays_secret(stub: Any, azurite: Any) -> None:
    container = f"kk-host-{uuid.uuid4().hex[:10]}"
    conn = azurite.extra["connection_string"]
    key = azurite.extra["account_key"]
    news = {"__provider": serialize_provider(AzureBlobContainerProvider()), "container": container,
            "connection_string": _secret(conn), "api_version": "2026-06-06"}
    checked = stub.Check(proto.CheckRequest(urn=AZ_URN, olds=_struct({}), news=_struct(news)))
    assert list(checked.failures) == []
    inputs = _dict(checked.inputs)
    assert rpc.is_rpc_secret(inputs["connection_string"])
    assert inputs["account_name"] == "devstoreaccount1"  # derived, not secret
    created = stub.Create(proto.CreateRequest(urn=AZ_URN, properties=checked.inputs))
    outs = _dict(created.properties)
    assert rpc.is_rpc_secret(outs["connection_string"])
    assert _keys_holding(outs, key) == {"connection_string"}
    assert set(azure.SECRET_KEYS) == {"connection_string", "account_key"}
    read = stub.Read(proto.ReadRequest(id=created.id, urn=AZ_URN, properties=created.properties))
    assert read.id == created.id and rpc.is_rpc_secret(_dict(read.properties)["connection_string"])
    stub.Delete(proto.DeleteRequest(id=created.id, urn=AZ_URN, properties=created.properties))
    gone = stub.Read(proto.ReadRequest(id=created.id, urn=AZ_URN, properties=created.properties))
    assert gone.id == ""


def test_gcs_lifecycle(stub: Any, fake_gcs: Any) -> None:
    from pulumi_kk.storage.gcs import GcsBucketProvider

    urn = "urn:pulumi:test::kk::pulumi-python:dynamic/storage:GcsBucket::g"
    name = f"kk-host-{uuid.uuid4().hex[:10]}"
    news = {"__provider": serialize_provider(GcsBucketProvider()), "bucket": name, "project": "kk-test-project",
            "endpoint": fake_gcs.endpoint, "versioning": True}
    checked = stub.Check(proto.CheckRequest(urn=urn, olds=_struct({}), news=_struct(news)))
    assert list(checked.failures) == []
    created = stub.Create(proto.CreateRequest(urn=urn, properties=checked.inputs))
    assert created.id == name and _dict(created.properties)["url"] == f"gs://{name}"
    read = stub.Read(proto.ReadRequest(id=name, urn=urn, properties=created.properties))
    assert _dict(read.properties)["versioning"] is True
    stub.Delete(proto.DeleteRequest(id=name, urn=urn, properties=created.properties))
    assert stub.Read(proto.ReadRequest(id=name, urn=urn, properties=created.properties)).id == ""
