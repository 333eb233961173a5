"""Bucket resources under Pulumi mocks: type names, secret inputs, secret ``registry_storage`` blocks."""

from __future__ import annotations

import base64
import json

import mockkit
import pulumi

from pulumi_kk.storage import AzureBlobContainer, GcsBucket, S3Bucket

SK = "plain-secret-key-from-user"
AZ_KEY = "YXp1cmUta2V5LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk="
SA_JSON = json.dumps({"type": "service_account", "project_id": "kk-proj-1", "private_key_id": "abc",
                      "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
                      "client_email": "registry@kk-proj-1.iam.gserviceaccount.com", "client_id": "1",
                      "token_uri": "https://oauth2.googleapis.com/token"})


def _program() -> None:
    s3 = S3Bucket("s3", bucket="kk-registry", region="eu-west-1", access_key="AKIAUSER", secret_key=SK,
                  endpoint="http://10.0.0.5:9000", tags={"app": "registry"})
    pulumi.export("s3", s3.registry_storage(root_directory="/registry"))
    anon = S3Bucket("s3-anon", bucket="kk-anon", region="eu-west-1", encryption="aws:kms", kms_key_id="alias/r")
    pulumi.export("s3_anon", anon.registry_storage())
    pulumi.export("s3_override", anon.registry_storage(access_key="AKIAREG", secret_key=pulumi.Output.secret("x")))
    gcs = GcsBucket("gcs", bucket="kk-registry-gcs", project="kk-proj-1", location="EU", credentials=SA_JSON)
    pulumi.export("gcs", gcs.registry_storage(root_directory="/r", keyfile="/etc/registry/gcs.json"))
    gcs_anon = GcsBucket("gcs-anon", bucket="kk-anon-gcs", project="kk-proj-1")
    pulumi.export("gcs_anon", gcs_anon.registry_storage(keyfile="/etc/registry/gcs.json"))
    conn = (f"DefaultEndpointsProtocol=https;AccountName=kkregistry;AccountKey={AZ_KEY};"
            "EndpointSuffix=core.chinacloudapi.cn")
    az = AzureBlobContainer("az", container="registry", connection_string=conn, account_name="kkregistry",
                            blob_endpoint="https://kkregistry.blob.core.chinacloudapi.cn")
    pulumi.export("az", az.registry_storage())
    azk = AzureBlobContainer("az-key", container="registry", account_name="devstoreaccount1", account_key=AZ_KEY,
                             blob_endpoint="http://127.0.0.1:10000/devstoreaccount1")
    pulumi.export("az_key", azk.registry_storage())


def test_types_secret_inputs_and_registry_blocks() -> None:
    g = mockkit.run(_program)

    s3 = g["s3"]
    assert s3.type == "pulumi-python:dynamic/storage:S3Bucket"
    assert g["gcs"].type == "pulumi-python:dynamic/storage:GcsBucket"
    assert g["az"].type == "pulumi-python:dynamic/storage:AzureBlobContainer"

    # credentials given as plain strings are secret on the wire and declared secret outputs
    assert s3.is_secret("access_key") and s3.is_secret("secret_key") and s3.is_secret("__provider")
    assert not s3.is_secret("bucket") and s3.get("bucket") == "kk-registry"
    assert set(s3.additional_secret_outputs) == {"access_key", "secret_key", "session_token"}
    assert g["gcs"].is_secret("credentials") and g["gcs"].additional_secret_outputs == ("credentials",)
    assert g["az"].is_secret("connection_string") and g["az-key"].is_secret("account_key")
    assert set(g["az"].additional_secret_outputs) == {"connection_string", "account_key"}
    # the pickled provider is a class reference: user secrets are not captured in it
    provider = base64.b64decode(s3.get("__provider"))
    assert SK.encode() not in provider and b"pulumi_kk.storage.s3" in provider

    exp = g.exports
    assert isinstance(exp["s3"], mockkit.Secret)
    assert mockkit.plain(exp["s3"]) == {"s3": {
        "bucket": "kk-registry", "region": "eu-west-1", "regionendpoint": "http://10.0.0.5:9000",
        "accesskey": "AKIAUSER", "secretkey": SK, "rootdirectory": "/registry", "encrypt": True, "keyid": "",
        "secure": False, "forcepathstyle": True}}
    assert not isinstance(exp["s3_anon"], mockkit.Secret)  # no key inside: the host's credential chain
    assert exp["s3_anon"] == {"s3": {
        "bucket": "kk-anon", "region": "eu-west-1", "regionendpoint": "", "accesskey": "", "secretkey": "",
        "rootdirectory": "", "encrypt": True, "keyid": "alias/r", "secure": True, "forcepathstyle": False}}
    assert isinstance(exp["s3_override"], mockkit.Secret)
    assert mockkit.plain(exp["s3_override"])["s3"]["accesskey"] == "AKIAREG"

    assert isinstance(exp["gcs"], mockkit.Secret)
    assert mockkit.plain(exp["gcs"]) == {"gcs": {"bucket": "kk-registry-gcs", "keyfile": "/etc/registry/gcs.json",
                                                 "credentials": json.loads(SA_JSON), "rootdirectory": "/r"}}
    assert exp["gcs_anon"] == {"gcs": {"bucket": "kk-anon-gcs", "keyfile": "/etc/registry/gcs.json",
                                       "rootdirectory": ""}}

    assert isinstance(exp["az"], mockkit.Secret)
    assert mockkit.plain(exp["az"]) == {"azure": {"accountname": "kkregistry", "accountkey": AZ_KEY,
                                                  "container": "registry", "realm": "core.chinacloudapi.cn"}}
    assert isinstance(exp["az_key"], mockkit.Secret)
    assert mockkit.plain(exp["az_key"]) == {"azure": {
        "accountname": "devstoreaccount1", "accountkey": AZ_KEY, "container": "registry",
        "realm": "core.windows.net", "serviceurl": "http://127.0.0.1:10000/devstoreaccount1"}}


def test_secret_outputs_stay_secret_on_the_resource() -> None:
    seen: dict[str, bool] = {}

    def program() -> None:
        b = S3Bucket("b", bucket="kk-b", region="eu-west-1", access_key="AKIA", secret_key=SK)
        pulumi.export("secret_key", b.secret_key)  # type: ignore[attr-defined]
        pulumi.export("bucket", b.bucket)
        seen["ok"] = True

    g = mockkit.run(program)
    assert seen["ok"]
    assert isinstance(g.exports["secret_key"], mockkit.Secret)
    assert g.exports["bucket"] == "kk-b"
