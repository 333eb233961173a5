"""``S3Bucket``: an S3 (or S3-compatible) bucket managed by a Pulumi dynamic provider using boto3.

Credentials, in order: explicit ``access_key``/``secret_key``/``session_token`` (stored as secrets), the
stack config ``aws:accessKey``/``aws:secretKey``/``aws:token``/``aws:profile``, then boto3's standard
chain (``AWS_ACCESS_KEY_ID``, profiles, instance roles). Region: ``region``, ``aws:region``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, else ``us-east-1`` when a custom ``endpoint`` is set.
"""

from __future__ import annotations

import contextlib
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
    first_set,
    known,
    pass_through,
    reveal,
    revealed,
    secret_or_none,
    with_secret_outputs,
)

INPUT_KEYS = (
    "bucket",
    "region",
    "endpoint",
    "versioning",
    "encryption",
    "kms_key_id",
    "block_public_access",
    "force_destroy",
    "tags",
    "access_key",
    "secret_key",
    "session_token",
)
SECRET_KEYS = ("access_key", "secret_key", "session_token")
REPLACE_KEYS = ("bucket", "region", "endpoint")
DEFAULTS: dict[str, Any] = {
    "versioning": False,
    "encryption": "AES256",
    "block_public_access": True,
    "force_destroy": False,
    "tags": {},
}
_MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_UNSUPPORTED = {"NotImplemented", "MethodNotAllowed", "501", "405"}


def _code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3BucketProvider(StorageProvider):
    """CRUD for :class:`S3Bucket`. The bucket name is the resource id."""

    INPUT_KEYS = INPUT_KEYS
    REPLACE_KEYS = REPLACE_KEYS

    CONFIG_KEYS = ("aws:region", "aws:accessKey", "aws:secretKey", "aws:token", "aws:profile")

    # ------------------------------------------------------------------ client

    def _client(self, p: Mapping[str, Any]) -> Any:
        """A fresh boto3 S3 client for the plain (revealed) props ``p``."""
        import boto3
        from botocore.config import Config

        explicit = p.get("access_key") is not None
        access_key = p.get("access_key") if explicit else self.config("aws:accessKey")
        secret_key = p.get("secret_key") if explicit else self.config("aws:secretKey")
        token = p.get("session_token") if explicit else self.config("aws:token")
        profile = None if explicit or access_key else self.config("aws:profile")
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=token,
            profile_name=profile,
            region_name=p.get("region"),
        )
        endpoint = p.get("endpoint")
        config = Config(
            s3={"addressing_style": "path"} if endpoint else {},
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        return session.client("s3", endpoint_url=endpoint, config=config)

    # ------------------------------------------------------------------ check / diff

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Fill defaults (region from config/env), validate names and options."""
        inputs = dict(news)
        for key, value in DEFAULTS.items():
            if inputs.get(key) is None:
                inputs[key] = value
        if inputs.get("region") is None:
            region = first_set(self.config("aws:region"), env("AWS_REGION", "AWS_DEFAULT_REGION"))
            if region is None and inputs.get("endpoint") is not None:
                region = "us-east-1"
            if region is not None:
                inputs["region"] = region
        failures = validate.validate_s3(known(inputs, INPUT_KEYS))
        if inputs.get("region") is None:
            failures += validate.validate_s3_region("", False)
        return check_result(inputs, failures)


    # ------------------------------------------------------------------ create / update

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the bucket, refusing to adopt one that already exists, then apply its settings."""
        from botocore.exceptions import ClientError

        p = revealed(props, INPUT_KEYS)
        client = self._client(p)
        name, region = p["bucket"], p["region"]
        try:
            client.head_bucket(Bucket=name)
        except ClientError as err:
            if _code(err) in ("403", "AccessDenied", "Forbidden"):
                raise RuntimeError(f"S3 bucket {name!r} exists but these credentials cannot access it (another "
                                   "account owns it, or s3:ListBucket is denied); bucket names are global, "
                                   "choose another name or fix the credentials") from err
            if _code(err) not in _MISSING_BUCKET:
                raise
        else:
            raise RuntimeError(f"S3 bucket {name!r} already exists; refusing to adopt it. Choose another "
                               "name, or delete the existing bucket first")
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client.create_bucket(**kwargs)
        try:
            self._apply(client, name, None, p)
        except Exception:
            with contextlib.suppress(Exception):  # keep create transactional; report the original error
                client.delete_bucket(Bucket=name)
            raise
        return CreateResult(id_=name, outs=self._outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Apply only the settings that changed."""
        p = revealed(news, INPUT_KEYS)
        self._apply(self._client(p), p["bucket"], revealed(olds, INPUT_KEYS), p)
        return UpdateResult(outs=self._outs(news))

    @staticmethod
    def _outs(props: Mapping[str, Any]) -> dict[str, Any]:
        outs = pass_through(props, INPUT_KEYS)
        outs["arn"] = f"arn:aws:s3:::{reveal(props['bucket'])}"
        return outs

    @staticmethod
    def _apply(client: Any, name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        """Converge settings; ``old=None`` means a fresh bucket (defaults: nothing configured)."""

        def changed(*keys: str) -> bool:
            return old is None or any(old.get(k) != new.get(k) for k in keys)

        if changed("versioning") and (new["versioning"] or old is not None):
            status = "Enabled" if new["versioning"] else "Suspended"
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
        if changed("encryption", "kms_key_id"):
            if new.get("encryption"):
                rule: dict[str, Any] = {"SSEAlgorithm": new["encryption"]}
                if new["encryption"] == "aws:kms" and new.get("kms_key_id"):
                    rule["KMSMasterKeyID"] = new["kms_key_id"]
                client.put_bucket_encryption(
                    Bucket=name,
                    ServerSideEncryptionConfiguration={
                        "Rules": [{"ApplyServerSideEncryptionByDefault": rule,
                                   "BucketKeyEnabled": new["encryption"] == "aws:kms"}]
                    },
                )
            elif old is not None:
                client.delete_bucket_encryption(Bucket=name)
        if changed("block_public_access"):
            if new["block_public_access"]:
                flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
                client.put_public_access_block(
                    Bucket=name, PublicAccessBlockConfiguration=dict.fromkeys(flags, True)
                )
            elif old is not None:
                client.delete_public_access_block(Bucket=name)
        if changed("tags"):
            tags = new.get("tags") or {}
            if tags:
                tag_set = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
                client.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_set})
            elif old is not None:
                client.delete_bucket_tagging(Bucket=name)

    # ------------------------------------------------------------------ read

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Live settings for ``pulumi refresh``; an empty id means the bucket is gone."""
        from botocore.exceptions import ClientError

        p = revealed(props, INPUT_KEYS)
        p["bucket"] = p.get("bucket") or id_
        client = self._client(p)
        name = p["bucket"]
        try:
            client.head_bucket(Bucket=name)
        except ClientError as err:
            if _code(err) in _MISSING_BUCKET:
                return ReadResult(id_="", outs={})
            raise
        live: dict[str, Any] = {}

        def probe(fn: Any, missing: set[str]) -> Any:
            """Call ``fn``; ``None`` when the setting is absent, ``...`` when the store lacks the API."""
            try:
                return fn()
            except ClientError as err:
                if _code(err) in missing:
                    return None
                if _code(err) in _UNSUPPORTED:
                    return ...
                raise

        loc = probe(lambda: client.get_bucket_location(Bucket=name), set())
        if isinstance(loc, dict):
            constraint = loc.get("LocationConstraint")
            live["region"] = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)
            if p.get("endpoint") and constraint in (None, ""):
                live["region"] = p.get("region")  # S3-compatible stores often report no location
        ver = probe(lambda: client.get_bucket_versioning(Bucket=name), set())
        if isinstance(ver, dict):
            live["versioning"] = ver.get("Status") == "Enabled"
        enc = probe(lambda: client.get_bucket_encryption(Bucket=name),
                    {"ServerSideEncryptionConfigurationNotFoundError"})
        if enc is None:
            live["encryption"], live["kms_key_id"] = "", None
        elif enc is not ...:
            rules = enc.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
            default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
            live["encryption"] = default.get("SSEAlgorithm") or ""
            live["kms_key_id"] = default.get("KMSMasterKeyID")
        pab = probe(lambda: client.get_public_access_block(Bucket=name), {"NoSuchPublicAccessBlockConfiguration"})
        if pab is None:
            live["block_public_access"] = False
        elif pab is not ...:
            live["block_public_access"] = all(pab.get("PublicAccessBlockConfiguration", {}).values())
        tagging = probe(lambda: client.get_bucket_tagging(Bucket=name), {"NoSuchTagSet"})
        if tagging is None:
            live["tags"] = {}
        elif tagging is not ...:
            live["tags"] = {t["Key"]: t["Value"] for t in tagging.get("TagSet", [])}
        outs = self._outs({**props, "bucket": name, **live})
        inputs = {k: v for k, v in outs.items() if k in INPUT_KEYS}
        return ReadResult(id_=name, outs=outs, inputs=inputs)

    # ------------------------------------------------------------------ delete

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the bucket; missing is fine, non-empty needs ``force_destroy``."""
        from botocore.exceptions import ClientError

        p = revealed(props, INPUT_KEYS)
        name = p.get("bucket") or id_
        client = self._client(p)
        try:
            client.head_bucket(Bucket=name)
        except ClientError as err:
            if _code(err) in _MISSING_BUCKET:
                return
            raise
        if self._has_content(client, name):
            if not p.get("force_destroy"):
                raise RuntimeError(
                    f"S3 bucket {name!r} is not empty; refusing to delete it. Set force_destroy=True to delete "
                    "the bucket with all its objects and versions, or empty it first"
                )
            self._purge(client, name)
        try:
            client.delete_bucket(Bucket=name)
        except ClientError as err:
            if _code(err) not in _MISSING_BUCKET:
                raise

    @staticmethod
    def _has_content(client: Any, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            page = client.list_object_versions(Bucket=name, MaxKeys=1)
            return bool(page.get("Versions") or page.get("DeleteMarkers"))
        except ClientError as err:
            if _code(err) not in _UNSUPPORTED:
                raise
        return bool(client.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount", 0))

    @staticmethod
    def _purge(client: Any, name: str) -> None:
        """Delete every object version, delete marker and pending multipart upload."""
        from botocore.exceptions import ClientError

        def delete_batch(objects: list[dict[str, str]]) -> None:
            for i in range(0, len(objects), 1000):
                resp = client.delete_objects(Bucket=name, Delete={"Objects": objects[i:i + 1000], "Quiet": True})
                if resp.get("Errors"):
                    err = resp["Errors"][0]
                    raise RuntimeError(f"could not delete {err.get('Key')!r} from S3 bucket {name!r}: "
                                       f"{err.get('Code')} {err.get('Message')}")

        try:
            for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
                for upload in page.get("Uploads", []):
                    client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        except ClientError as err:
            if _code(err) not in _UNSUPPORTED:
                raise
        try:
            for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
                entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
                delete_batch([{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries])
        except ClientError as err:
            if _code(err) not in _UNSUPPORTED:
                raise
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            delete_batch([{"Key": o["Key"]} for o in page.get("Contents", [])])


class S3Bucket(Resource, module="storage", name="S3Bucket"):
    """An S3 bucket (type ``pulumi-python:dynamic/storage:S3Bucket``).

    ``endpoint`` targets an S3-compatible store (path-style addressing). ``encryption`` is ``"AES256"``
    (default), ``"aws:kms"`` (with optional ``kms_key_id``) or ``None``/``""`` to leave default encryption
    unmanaged. Explicit credentials are stored as secrets; prefer the environment or ``aws:*`` config.
    """

    bucket: pulumi.Output[str]
    region: pulumi.Output[str]
    endpoint: pulumi.Output[str | None]
    versioning: pulumi.Output[bool]
    encryption: pulumi.Output[str]
    kms_key_id: pulumi.Output[str | None]
    block_public_access: pulumi.Output[bool]
    force_destroy: pulumi.Output[bool]
    tags: pulumi.Output[dict[str, str]]
    arn: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        bucket: pulumi.Input[str],
        region: pulumi.Input[str] | None = None,
        endpoint: pulumi.Input[str] | None = None,
        versioning: pulumi.Input[bool] = False,
        encryption: pulumi.Input[str] | None = "AES256",
        kms_key_id: pulumi.Input[str] | None = None,
        block_public_access: pulumi.Input[bool] = True,
        force_destroy: pulumi.Input[bool] = False,
        tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
        access_key: pulumi.Input[str] | None = None,
        secret_key: pulumi.Input[str] | None = None,
        session_token: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        self._access_key = secret_or_none(access_key)
        self._secret_key = secret_or_none(secret_key)
        props: dict[str, Any] = {
            "bucket": bucket,
            "region": region,
            "endpoint": endpoint,
            "versioning": versioning,
            "encryption": encryption if encryption is not None else "",
            "kms_key_id": kms_key_id,
            "block_public_access": block_public_access,
            "force_destroy": force_destroy,
            "tags": tags if tags is not None else {},
            "access_key": self._access_key,
            "secret_key": self._secret_key,
            "session_token": secret_or_none(session_token),
            "arn": None,
        }
        super().__init__(S3BucketProvider(), resource_name, props, with_secret_outputs(opts, SECRET_KEYS))

    def registry_storage(
        self,
        root_directory: str = "",
        access_key: pulumi.Input[str] | None = None,
        secret_key: pulumi.Input[str] | None = None,
    ) -> pulumi.Output[dict[str, Any]]:
        """The ``image_registry.registry.storage`` block: ``{"s3": {...}}`` (KubeKey key names).

        Keys default to the ones given to this bucket; with none, ``accesskey``/``secretkey`` are empty
        and the registry falls back to its host's credential chain. Secret whenever a key is present.
        """
        ak = secret_or_none(access_key) if access_key is not None else self._access_key
        sk = secret_or_none(secret_key) if secret_key is not None else self._secret_key

        def build(args: list[Any]) -> dict[str, Any]:
            bucket, region, endpoint, encryption, key_id, akv, skv = args
            return {"s3": s3_storage_block(bucket, region, endpoint, encryption, key_id, akv, skv, root_directory)}

        out = pulumi.Output.all(self.bucket, self.region, self.endpoint, self.encryption, self.kms_key_id, ak, sk)
        block = out.apply(build)
        return pulumi.Output.secret(block) if ak is not None or sk is not None else block


def s3_storage_block(
    bucket: str,
    region: str,
    endpoint: str | None,
    encryption: str | None,
    kms_key_id: str | None,
    access_key: str | None,
    secret_key: str | None,
    root_directory: str = "",
) -> dict[str, Any]:
    """The distribution ``s3`` driver settings for a bucket (plain values)."""
    return {
        "bucket": bucket,
        "region": region,
        "regionendpoint": endpoint or "",
        "accesskey": access_key or "",
        "secretkey": secret_key or "",
        "rootdirectory": root_directory,
        "encrypt": bool(encryption),
        "keyid": (kms_key_id or "") if encryption == "aws:kms" else "",
        "secure": urlparse(endpoint).scheme != "http" if endpoint else True,
        "forcepathstyle": bool(endpoint),
    }
