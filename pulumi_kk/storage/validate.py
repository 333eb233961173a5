"""Pure validation of bucket/container settings (no Pulumi import, so it is unit-testable).

Every function returns a list of :class:`Failure` (empty when valid). Messages name the field, say
what is wrong, and say how to fix it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass(frozen=True)
class Failure:
    """One invalid field: ``prop`` is the input name, ``reason`` a human-readable message."""

    prop: str
    reason: str


# --------------------------------------------------------------------------------------------- common

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def _is_ipv4_like(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name))
    return True


def validate_endpoint(prop: str, url: str) -> list[Failure]:
    """An endpoint must be an absolute ``http(s)://host[:port][/path]`` URL without query or fragment."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return [Failure(prop, f"{prop} {url!r} is not an absolute http(s) URL; use e.g. 'https://s3.example.com:9000'")]
    try:
        _ = parsed.port
    except ValueError:
        return [Failure(prop, f"{prop} {url!r} has an invalid port; use a number between 1 and 65535")]
    if parsed.query or parsed.fragment:
        return [Failure(prop, f"{prop} {url!r} must not carry a query string or fragment; remove everything after '?'/'#'")]
    return []


def _require_bool(prop: str, value: object) -> list[Failure]:
    if isinstance(value, bool):
        return []
    return [Failure(prop, f"{prop} must be true or false, got {value!r}")]


# --------------------------------------------------------------------------------------------- S3

S3_ENCRYPTIONS = ("AES256", "aws:kms")
_S3_FORBIDDEN_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_FORBIDDEN_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_GENERIC_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def validate_s3_bucket_name(name: str, prop: str = "bucket") -> list[Failure]:
    """AWS general-purpose bucket naming rules (docs: 'General purpose bucket naming rules')."""
    fix = "use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
    if not isinstance(name, str) or not name:
        return [Failure(prop, f"{prop} is required; {fix}")]
    if not 3 <= len(name) <= 63:
        return [Failure(prop, f"{prop} {name!r} is {len(name)} characters long; S3 bucket names must be 3-63 ({fix})")]
    bad = sorted(set(re.sub(r"[a-z0-9.-]", "", name)))
    if bad:
        chars = "".join(bad)
        return [Failure(prop, f"{prop} {name!r} contains {chars!r}; S3 bucket names allow only "
                              f"lowercase letters, digits, '-' and '.'")]
    if not (name[0].isalnum() and name[-1].isalnum()):
        return [Failure(prop, f"{prop} {name!r} must start and end with a lowercase letter or digit")]
    if ".." in name:
        return [Failure(prop, f"{prop} {name!r} contains two adjacent periods; S3 forbids '..'")]
    if _is_ipv4_like(name):
        return [Failure(prop, f"{prop} {name!r} is formatted as an IP address; S3 forbids that, pick a name with letters")]
    for prefix in _S3_FORBIDDEN_PREFIXES:
        if name.startswith(prefix):
            return [Failure(prop, f"{prop} {name!r} starts with the reserved prefix {prefix!r}; choose another name")]
    for suffix in _S3_FORBIDDEN_SUFFIXES:
        if name.endswith(suffix):
            return [Failure(prop, f"{prop} {name!r} ends with the reserved suffix {suffix!r}; choose another name")]
    return []


def validate_s3_region(region: str, custom_endpoint: bool, prop: str = "region") -> list[Failure]:
    """AWS region shape (``eu-west-1``); S3-compatible stores (custom endpoint) accept any simple token."""
    if not isinstance(region, str) or not region:
        return [Failure(prop, f"{prop} is required; set region= or aws:region, or export AWS_REGION")]
    if custom_endpoint:
        if _GENERIC_REGION.match(region):
            return []
        return [Failure(prop, f"{prop} {region!r} is not a valid region name; use letters, digits, '-', '_' or '.'")]
    if _AWS_REGION.match(region):
        return []
    return [Failure(prop, f"{prop} {region!r} is not an AWS region name like 'eu-west-1'; "
                          "set endpoint= too if this is an S3-compatible store")]


def validate_s3_tags(tags: Mapping[str, object], prop: str = "tags") -> list[Failure]:
    """At most 50 tags, keys 1-128 chars not starting with 'aws:', values up to 256 chars."""
    out: list[Failure] = []
    if len(tags) > 50:
        out.append(Failure(prop, f"{prop} has {len(tags)} entries; S3 allows at most 50 tags per bucket"))
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            out.append(Failure(prop, f"{prop} key {key!r} must be a string of 1-128 characters"))
        elif key.lower().startswith("aws:"):
            out.append(Failure(prop, f"{prop} key {key!r} uses the reserved 'aws:' prefix; rename the tag"))
        if not isinstance(value, str) or len(value) > 256:
            out.append(Failure(prop, f"{prop}[{key!r}] must be a string of at most 256 characters"))
    return out


def validate_s3(inputs: Mapping[str, object]) -> list[Failure]:
    """Validate a normalised S3Bucket input bag (unknown values already removed)."""
    out: list[Failure] = []
    if "bucket" in inputs:
        out += validate_s3_bucket_name(inputs["bucket"])  # type: ignore[arg-type]
    endpoint = inputs.get("endpoint")
    if endpoint is not None:
        out += validate_endpoint("endpoint", str(endpoint))
    if "region" in inputs:
        out += validate_s3_region(inputs["region"], endpoint is not None)  # type: ignore[arg-type]
    enc = inputs.get("encryption")
    if enc is not None and enc != "" and enc not in S3_ENCRYPTIONS:
        out.append(Failure("encryption", f"encryption {enc!r} is not supported; use 'AES256', 'aws:kms', "
                                         "or None/'' to leave default encryption unmanaged"))
    key_id = inputs.get("kms_key_id")
    if key_id is not None:
        if enc != "aws:kms":
            out.append(Failure("kms_key_id", "kms_key_id is only used with encryption='aws:kms'; "
                                             "set encryption='aws:kms' or remove kms_key_id"))
        elif not isinstance(key_id, str) or not key_id.strip():
            out.append(Failure("kms_key_id", "kms_key_id must be a non-empty key id, alias or ARN"))
    for flag in ("versioning", "block_public_access", "force_destroy"):
        if flag in inputs:
            out += _require_bool(flag, inputs[flag])
    tags = inputs.get("tags")
    if tags is not None:
        if isinstance(tags, Mapping):
            out += validate_s3_tags(tags)
        else:
            out.append(Failure("tags", "tags must be a mapping of strings to strings"))
    for a, b in (("access_key", "secret_key"), ("secret_key", "access_key")):
        if inputs.get(a) is not None and inputs.get(b) is None:
            out.append(Failure(b, f"{a} is set but {b} is not; pass both access_key and secret_key, or neither"))
    if inputs.get("session_token") is not None and inputs.get("access_key") is None:
        out.append(Failure("session_token", "session_token needs access_key and secret_key"))
    return out


# --------------------------------------------------------------------------------------------- GCS

_GCS_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_GCS_LOCATION = re.compile(r"^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9](\+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])?$")
_GOOGLE_LIKE = re.compile(r"g[o0]{2}g[l1]e")


def validate_gcs_bucket_name(name: str, prop: str = "bucket") -> list[Failure]:
    """Cloud Storage bucket naming rules (docs: 'Bucket naming')."""
    fix = "use 3-63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    if not isinstance(name, str) or not name:
        return [Failure(prop, f"{prop} is required; {fix}")]
    bad = sorted(set(re.sub(r"[a-z0-9._-]", "", name)))
    if bad:
        chars = "".join(bad)
        return [Failure(prop, f"{prop} {name!r} contains {chars!r}; GCS bucket names allow only "
                              "lowercase letters, digits, '-', '_' and '.'")]
    if "." in name:
        if len(name) > 222:
            return [Failure(prop, f"{prop} {name!r} is {len(name)} characters long; dotted GCS names allow at most 222")]
        for part in name.split("."):
            if not 1 <= len(part) <= 63:
                return [Failure(prop, f"{prop} {name!r} has a dot-separated component of {len(part)} characters; "
                                      "each must be 1-63")]
    if not 3 <= len(name) <= (222 if "." in name else 63):
        return [Failure(prop, f"{prop} {name!r} is {len(name)} characters long; GCS bucket names must be 3-63 ({fix})")]
    if not (name[0].isalnum() and name[-1].isalnum()):
        return [Failure(prop, f"{prop} {name!r} must start and end with a lowercase letter or digit")]
    if _is_ipv4_like(name):
        return [Failure(prop, f"{prop} {name!r} is an IP address in dotted-decimal notation; GCS forbids that")]
    if name.startswith("goog"):
        return [Failure(prop, f"{prop} {name!r} starts with the reserved prefix 'goog'; choose another name")]
    if _GOOGLE_LIKE.search(name):
        return [Failure(prop, f"{prop} {name!r} contains 'google' or a close misspelling; GCS forbids that")]
    return []


def validate_gcs_project(project: str, prop: str = "project") -> list[Failure]:
    """Project ids: 6-30 chars, lowercase letters/digits/hyphens, start with a letter, no trailing hyphen."""
    if not isinstance(project, str) or not project:
        return [Failure(prop, f"{prop} is required; set project=, gcp:project, or export GOOGLE_CLOUD_PROJECT")]
    if _GCS_PROJECT.match(project):
        return []
    return [Failure(prop, f"{prop} {project!r} is not a valid project id; use 6-30 lowercase letters, digits or "
                          "'-', starting with a letter and not ending with '-'")]


def validate_gcs_location(location: str, prop: str = "location") -> list[Failure]:
    """A region (``europe-west1``), multi-region (``EU``) or dual-region (``NAM4``/``us-east1+us-west1``)."""
    if isinstance(location, str) and _GCS_LOCATION.match(location):
        return []
    return [Failure(prop, f"{prop} {location!r} is not a GCS location; use e.g. 'EU', 'US' or 'europe-west1'")]


def validate_gcs(inputs: Mapping[str, object]) -> list[Failure]:
    """Validate a normalised GcsBucket input bag (unknown values already removed)."""
    out: list[Failure] = []
    if "bucket" in inputs:
        out += validate_gcs_bucket_name(inputs["bucket"])  # type: ignore[arg-type]
    if "project" in inputs:
        out += validate_gcs_project(inputs["project"])  # type: ignore[arg-type]
    if "location" in inputs:
        out += validate_gcs_location(inputs["location"])  # type: ignore[arg-type]
    if inputs.get("endpoint") is not None:
        out += validate_endpoint("endpoint", str(inputs["endpoint"]))
    for flag in ("versioning", "uniform_bucket_level_access", "force_destroy"):
        if flag in inputs:
            out += _require_bool(flag, inputs[flag])
    return out


def validate_gcs_credentials_json(text: str, prop: str = "credentials") -> list[Failure]:
    """A service-account key file's JSON content."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return [Failure(prop, f"{prop} is not JSON; pass the content of a service-account key file, not its path")]
    if not isinstance(data, dict) or data.get("type") != "service_account":
        return [Failure(prop, f"{prop} must be a service-account key (\"type\": \"service_account\")")]
    missing = [k for k in ("client_email", "private_key") if not data.get(k)]
    if missing:
        return [Failure(prop, f"{prop} lacks {', '.join(missing)}; download a complete key file")]
    return []


# --------------------------------------------------------------------------------------------- Azure

_AZ_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_AZ_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def validate_azure_container_name(name: str, prop: str = "container") -> list[Failure]:
    """Azure Blob container naming rules (docs: 'Naming and Referencing Containers')."""
    fix = "use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
    if not isinstance(name, str) or not name:
        return [Failure(prop, f"{prop} is required; {fix}")]
    if not 3 <= len(name) <= 63:
        return [Failure(prop, f"{prop} {name!r} is {len(name)} characters long; container names must be 3-63 ({fix})")]
    bad = sorted(set(re.sub(r"[a-z0-9-]", "", name)))
    if bad:
        chars = "".join(bad)
        return [Failure(prop, f"{prop} {name!r} contains {chars!r}; container names allow only "
                              "lowercase letters, digits and '-'")]
    if not (name[0].isalnum() and name[-1].isalnum()):
        return [Failure(prop, f"{prop} {name!r} must start and end with a lowercase letter or digit")]
    if "--" in name:
        return [Failure(prop, f"{prop} {name!r} contains consecutive hyphens; every '-' must sit between "
                              "letters or digits")]
    return []


def validate_azure_account_name(name: str, prop: str = "account_name") -> list[Failure]:
    """Storage account names: 3-24 lowercase letters and digits."""
    if isinstance(name, str) and _AZ_ACCOUNT.match(name):
        return []
    return [Failure(prop, f"{prop} {name!r} is not a storage account name; use 3-24 lowercase letters and digits")]


def parse_connection_string(conn: str) -> dict[str, str]:
    """Split an Azure Storage connection string into its ``Key=Value`` parts (keys as written)."""
    parts: dict[str, str] = {}
    for index, item in enumerate(conn.split(";"), start=1):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:  # the segment itself is not echoed: it may be secret material
            raise ValueError(f"segment {index} has no '='")
        parts[key.strip()] = value.strip()
    return parts


def validate_azure(inputs: Mapping[str, object]) -> list[Failure]:
    """Validate a normalised AzureBlobContainer input bag (unknown values already removed).

    Expects ``account_name`` already derived from the connection string when one is given.
    """
    out: list[Failure] = []
    if "container" in inputs:
        out += validate_azure_container_name(inputs["container"])  # type: ignore[arg-type]
    if inputs.get("account_name") is not None:
        out += validate_azure_account_name(inputs["account_name"])  # type: ignore[arg-type]
    if inputs.get("blob_endpoint") is not None:
        out += validate_endpoint("blob_endpoint", str(inputs["blob_endpoint"]))
    api = inputs.get("api_version")
    if api is not None and not (isinstance(api, str) and _AZ_API_VERSION.match(api)):
        out.append(Failure("api_version", f"api_version {api!r} must look like '2026-06-06' (YYYY-MM-DD); "
                                          "or leave it unset for the SDK default"))
    if "force_destroy" in inputs:
        out += _require_bool("force_destroy", inputs["force_destroy"])
    metadata = inputs.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            out.append(Failure("metadata", "metadata must be a mapping of strings to strings"))
        else:
            for key in metadata:
                if not (isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key)):
                    out.append(Failure("metadata", f"metadata key {key!r} must be a C# identifier "
                                                   "(letters, digits, '_', not starting with a digit)"))
    return out
