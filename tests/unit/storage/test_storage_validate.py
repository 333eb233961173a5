"""Naming and option rules of ``pulumi_kk.storage.validate`` (pure: no Pulumi, no network)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pulumi_kk.storage import validate as v


def reasons(failures: list[v.Failure]) -> list[str]:
    return [f.reason for f in failures]


def test_validate_module_does_not_import_pulumi() -> None:
    code = "import sys, pulumi_kk.storage.validate; print('pulumi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------ S3

@pytest.mark.parametrize("name", ["abc", "my-bucket", "registry.backup.2026", "1bucket", "a" * 63, "a-b.c-d"])
def test_s3_valid_names(name: str) -> None:
    assert v.validate_s3_bucket_name(name) == []


FIX_S3 = "use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"


@pytest.mark.parametrize(("name", "message"), [
    ("", f"bucket is required; {FIX_S3}"),
    ("ab", f"bucket 'ab' is 2 characters long; S3 bucket names must be 3-63 ({FIX_S3})"),
    ("a" * 64, f"bucket '{'a' * 64}' is 64 characters long; S3 bucket names must be 3-63 ({FIX_S3})"),
    ("My_Bucket", "bucket 'My_Bucket' contains 'BM_'; S3 bucket names allow only lowercase letters, digits, "
                  "'-' and '.'"),
    ("-abc", "bucket '-abc' must start and end with a lowercase letter or digit"),
    ("abc.", "bucket 'abc.' must start and end with a lowercase letter or digit"),
    ("a..b", "bucket 'a..b' contains two adjacent periods; S3 forbids '..'"),
    ("192.168.5.4", "bucket '192.168.5.4' is formatted as an IP address; S3 forbids that, pick a name with letters"),
    ("xn--bucket", "bucket 'xn--bucket' starts with the reserved prefix 'xn--'; choose another name"),
    ("sthree-bucket", "bucket 'sthree-bucket' starts with the reserved prefix 'sthree-'; choose another name"),
    ("amzn-s3-demo-x", "bucket 'amzn-s3-demo-x' starts with the reserved prefix 'amzn-s3-demo-'; choose another name"),
    ("data-s3alias", "bucket 'data-s3alias' ends with the reserved suffix '-s3alias'; choose another name"),
    ("data--ol-s3", "bucket 'data--ol-s3' ends with the reserved suffix '--ol-s3'; choose another name"),
    ("data.mrap", "bucket 'data.mrap' ends with the reserved suffix '.mrap'; choose another name"),
    ("data--x-s3", "bucket 'data--x-s3' ends with the reserved suffix '--x-s3'; choose another name"),
    ("data--table-s3", "bucket 'data--table-s3' ends with the reserved suffix '--table-s3'; choose another name"),
])
def test_s3_invalid_names(name: str, message: str) -> None:
    assert v.validate_s3_bucket_name(name) == [v.Failure("bucket", message)]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "us-gov-west-1", "cn-north-1", "ap-southeast-5",
                                    "us-isob-east-1"])
def test_s3_aws_regions(region: str) -> None:
    assert v.validate_s3_region(region, custom_endpoint=False) == []


def test_s3_region_rules() -> None:
    assert reasons(v.validate_s3_region("EU", custom_endpoint=False)) == [
        "region 'EU' is not an AWS region name like 'eu-west-1'; set endpoint= too if this is an S3-compatible store"]
    assert v.validate_s3_region("garage", custom_endpoint=True) == []
    assert reasons(v.validate_s3_region("bad region", custom_endpoint=True)) == [
        "region 'bad region' is not a valid region name; use letters, digits, '-', '_' or '.'"]
    assert reasons(v.validate_s3_region("", custom_endpoint=False)) == [
        "region is required; set region= or aws:region, or export AWS_REGION"]


def test_s3_options() -> None:
    base = {"bucket": "kk-bucket", "region": "eu-west-1"}
    assert v.validate_s3({**base, "encryption": "AES256", "versioning": True, "tags": {"a": "b"}}) == []
    assert v.validate_s3({**base, "encryption": "aws:kms", "kms_key_id": "alias/x"}) == []
    assert v.validate_s3({**base, "encryption": ""}) == []
    assert reasons(v.validate_s3({**base, "encryption": "aws:kms:dsse"})) == [
        "encryption 'aws:kms:dsse' is not supported; use 'AES256', 'aws:kms', or None/'' to leave default "
        "encryption unmanaged"]
    assert reasons(v.validate_s3({**base, "encryption": "AES256", "kms_key_id": "k"})) == [
        "kms_key_id is only used with encryption='aws:kms'; set encryption='aws:kms' or remove kms_key_id"]
    assert reasons(v.validate_s3({**base, "versioning": "yes"})) == ["versioning must be true or false, got 'yes'"]
    assert reasons(v.validate_s3({**base, "access_key": "AKIA"})) == [
        "access_key is set but secret_key is not; pass both access_key and secret_key, or neither"]
    assert reasons(v.validate_s3({**base, "session_token": "t"})) == ["session_token needs access_key and secret_key"]
    assert reasons(v.validate_s3({**base, "endpoint": "minio:9000"})) == [
        "endpoint 'minio:9000' is not an absolute http(s) URL; use e.g. 'https://s3.example.com:9000'"]


def test_s3_tags() -> None:
    assert reasons(v.validate_s3_tags({"aws:cloudformation": "x"})) == [
        "tags key 'aws:cloudformation' uses the reserved 'aws:' prefix; rename the tag"]
    assert reasons(v.validate_s3_tags({"k": "v" * 257})) == ["tags['k'] must be a string of at most 256 characters"]
    assert reasons(v.validate_s3_tags({f"k{i}": "v" for i in range(51)})) == [
        "tags has 51 entries; S3 allows at most 50 tags per bucket"]
    assert reasons(v.validate_s3_tags({"": "v"})) == ["tags key '' must be a string of 1-128 characters"]


# ------------------------------------------------------------------------------------------------ GCS

@pytest.mark.parametrize("name", ["abc", "my_bucket", "kk-registry-2026", "a.b.c", f"{'a' * 63}.{'b' * 63}"])
def test_gcs_valid_names(name: str) -> None:
    assert v.validate_gcs_bucket_name(name) == []


FIX_GCS = "use 3-63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


@pytest.mark.parametrize(("name", "message"), [
    ("", f"bucket is required; {FIX_GCS}"),
    ("ab", f"bucket 'ab' is 2 characters long; GCS bucket names must be 3-63 ({FIX_GCS})"),
    ("a" * 64, f"bucket '{'a' * 64}' is 64 characters long; GCS bucket names must be 3-63 ({FIX_GCS})"),
    ("Registry", "bucket 'Registry' contains 'R'; GCS bucket names allow only lowercase letters, digits, '-', "
                 "'_' and '.'"),
    ("_abc", "bucket '_abc' must start and end with a lowercase letter or digit"),
    (f"{'a' * 64}.com", f"bucket '{'a' * 64}.com' has a dot-separated component of 64 characters; each must be 1-63"),
    (".".join(["a" * 60] * 4), f"bucket '{'.'.join(['a' * 60] * 4)}' is 243 characters long; dotted GCS names "
                               "allow at most 222"),
    ("10.0.0.1", "bucket '10.0.0.1' is an IP address in dotted-decimal notation; GCS forbids that"),
    ("goog-registry", "bucket 'goog-registry' starts with the reserved prefix 'goog'; choose another name"),
    ("my-google-bucket", "bucket 'my-google-bucket' contains 'google' or a close misspelling; GCS forbids that"),
    ("my-g00gle-bucket", "bucket 'my-g00gle-bucket' contains 'google' or a close misspelling; GCS forbids that"),
])
def test_gcs_invalid_names(name: str, message: str) -> None:
    assert v.validate_gcs_bucket_name(name) == [v.Failure("bucket", message)]


def test_gcs_project_and_location() -> None:
    assert v.validate_gcs_project("kk-test-project") == []
    msg = ("project {!r} is not a valid project id; use 6-30 lowercase letters, digits or '-', starting with a "
           "letter and not ending with '-'")
    for bad in ("abc", "Project-1", "1project", "project-"):
        assert reasons(v.validate_gcs_project(bad)) == [msg.format(bad)]
    assert reasons(v.validate_gcs_project("")) == [
        "project is required; set project=, gcp:project, or export GOOGLE_CLOUD_PROJECT"]
    for ok in ("EU", "US", "europe-west1", "NAM4", "US-EAST1+US-WEST1"):
        assert v.validate_gcs_location(ok) == []
    assert reasons(v.validate_gcs_location("eu west")) == [
        "location 'eu west' is not a GCS location; use e.g. 'EU', 'US' or 'europe-west1'"]


def test_gcs_options_and_credentials() -> None:
    assert reasons(v.validate_gcs({"bucket": "kk-b", "uniform_bucket_level_access": 1})) == [
        "uniform_bucket_level_access must be true or false, got 1"]
    assert reasons(v.validate_gcs_credentials_json("/path/key.json")) == [
        "credentials is not JSON; pass the content of a service-account key file, not its path"]
    assert reasons(v.validate_gcs_credentials_json('{"type": "authorized_user"}')) == [
        'credentials must be a service-account key ("type": "service_account")']
    assert reasons(v.validate_gcs_credentials_json(json.dumps({"type": "service_account"}))) == [
        "credentials lacks client_email, private_key; download a complete key file"]


# ------------------------------------------------------------------------------------------------ Azure

@pytest.mark.parametrize("name", ["abc", "registry", "a-b-c", "123", "a" * 63])
def test_azure_valid_container_names(name: str) -> None:
    assert v.validate_azure_container_name(name) == []


FIX_AZ = "use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"


@pytest.mark.parametrize(("name", "message"), [
    ("", f"container is required; {FIX_AZ}"),
    ("ab", f"container 'ab' is 2 characters long; container names must be 3-63 ({FIX_AZ})"),
    ("Registry", "container 'Registry' contains 'R'; container names allow only lowercase letters, digits and '-'"),
    ("my_registry", "container 'my_registry' contains '_'; container names allow only lowercase letters, digits "
                    "and '-'"),
    ("reg.istry", "container 'reg.istry' contains '.'; container names allow only lowercase letters, digits and '-'"),
    ("-abc", "container '-abc' must start and end with a lowercase letter or digit"),
    ("abc-", "container 'abc-' must start and end with a lowercase letter or digit"),
    ("a--b", "container 'a--b' contains consecutive hyphens; every '-' must sit between letters or digits"),
])
def test_azure_invalid_container_names(name: str, message: str) -> None:
    assert v.validate_azure_container_name(name) == [v.Failure("container", message)]


def test_azure_account_api_version_metadata() -> None:
    assert v.validate_azure_account_name("devstoreaccount1") == []
    for bad in ("ab", "Registry", "a" * 25, "my-account"):
        assert reasons(v.validate_azure_account_name(bad)) == [
            f"account_name {bad!r} is not a storage account name; use 3-24 lowercase letters and digits"]
    base = {"container": "registry", "account_name": "kkreg"}
    assert v.validate_azure({**base, "api_version": "2026-06-06", "metadata": {"owner_1": "x"}}) == []
    assert reasons(v.validate_azure({**base, "api_version": "latest"})) == [
        "api_version 'latest' must look like '2026-06-06' (YYYY-MM-DD); or leave it unset for the SDK default"]
    assert reasons(v.validate_azure({**base, "metadata": {"1st": "x", "a-b": "y"}})) == [
        "metadata key '1st' must be a C# identifier (letters, digits, '_', not starting with a digit)",
        "metadata key 'a-b' must be a C# identifier (letters, digits, '_', not starting with a digit)"]
    assert reasons(v.validate_azure({**base, "blob_endpoint": "http://h:99999"})) == [
        "blob_endpoint 'http://h:99999' has an invalid port; use a number between 1 and 65535"]
    assert reasons(v.validate_azure({**base, "blob_endpoint": "https://h/?sv=2020&sig=x"})) == [
        "blob_endpoint 'https://h/?sv=2020&sig=x' must not carry a query string or fragment; remove everything "
        "after '?'/'#'"]


def test_parse_connection_string() -> None:
    assert v.parse_connection_string("A=1; B=x=y;;") == {"A": "1", "B": "x=y"}
    with pytest.raises(ValueError, match="segment 2 has no '='"):
        v.parse_connection_string("A=1;broken")
