"""``GcsBucket``: a Google Cloud Storage bucket managed by a Pulumi dynamic provider.

Credentials, in order: explicit ``credentials`` (service-account key JSON, stored as a secret), stack
config ``gcp:credentials`` (key JSON or a path to it), anonymous when a custom ``endpoint`` is set (an
emulator), then Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, metadata
server). ``STORAGE_EMULATOR_HOST`` is honoured by the SDK itself. Project: ``project``, ``gcp:project``,
``GOOGLE_CLOUD_PROJECT``/``GCLOUD_PROJECT``/``CLOUDSDK_CORE_PROJECT``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, ReadResult, Resource, UpdateResult

from . import validate
from .common import (
    StorageProvider,
    check_result,
    env,
    first_set,
    is_unknown,
    known,
    pass_through,
    reveal,
    revealed,
    secret_or_none,
    with_secret_outputs,
)

INPUT_KEYS = (
    "bucket",
    "project",
    "location",
    "uniform_bucket_level_access",
    "versioning",
    "force_destroy",
    "endpoint",
    "credentials",
)
SECRET_KEYS = ("credentials",)
REPLACE_KEYS = ("bucket", "project", "location", "endpoint")
DEFAULTS: dict[str, Any] = {
    "location": "US",
    "uniform_bucket_level_access": True,
    "versioning": False,
    "force_destroy": False,
}
TIMEOUT = 60.0
"""Seconds for each request and for its retries (the SDK default retries a 500 for 120 s)."""


def _retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(TIMEOUT)


def _load_key(text_or_path: str) -> dict[str, Any]:
    """Service-account key info from JSON text or from a file path."""
    if text_or_path.lstrip().startswith("{"):
        info: dict[str, Any] = json.loads(text_or_path)
        return info
    with open(text_or_path, encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
        return loaded


class GcsBucketProvider(StorageProvider):
    """CRUD for :class:`GcsBucket`. The bucket name is the resource id."""

    INPUT_KEYS = INPUT_KEYS
    REPLACE_KEYS = REPLACE_KEYS

    CONFIG_KEYS = ("gcp:project", "gcp:credentials")

    def _client(self, p: Mapping[str, Any]) -> Any:
        """A fresh ``google.cloud.storage.Client`` for the plain props ``p``."""
        from google.cloud import storage

        credentials: Any = None
        key = first_set(p.get("credentials"), self.config("gcp:credentials"))
        if key:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_info(
                _load_key(key), scopes=["https://www.googleapis.com/auth/devstorage.full_control"]
            )
        elif p.get("endpoint"):
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        options = {"api_endpoint": p["endpoint"]} if p.get("endpoint") else None
        return storage.Client(project=p.get("project"), credentials=credentials, client_options=options)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Fill defaults (project from config/env), normalise location to upper case, validate."""
        inputs = dict(news)
        for key, value in DEFAULTS.items():
            if inputs.get(key) is None:
                inputs[key] = value
        if inputs.get("project") is None:
            project = first_set(
                self.config("gcp:project"), env("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
            )
            if project is not None:
                inputs["project"] = project
        location = inputs["location"]
        if isinstance(location, str) and not is_unknown(location):
            inputs["location"] = location.upper()  # GCS reports locations in upper case
        failures = validate.validate_gcs(known(inputs, INPUT_KEYS))
        if inputs.get("project") is None:
            failures += validate.validate_gcs_project("")
        creds = inputs.get("credentials")
        if creds is not None and not is_unknown(creds):
            failures += validate.validate_gcs_credentials_json(reveal(creds))
        return check_result(inputs, failures)


    def create(self, props: dict[str, Any]) -> CreateResult:
        """Create the bucket with versioning and uniform bucket-level access set in the same request."""
        from google.api_core.exceptions import Conflict

        p = revealed(props, INPUT_KEYS)
        client = self._client(p)
        bucket = client.bucket(p["bucket"])
        bucket.versioning_enabled = bool(p["versioning"])
        bucket.iam_configuration.uniform_bucket_level_access_enabled = bool(p["uniform_bucket_level_access"])
        try:
            client.create_bucket(bucket, project=p["project"], location=p["location"], timeout=TIMEOUT,
                                 retry=_retry())
        except Conflict as err:
            raise RuntimeError(f"GCS bucket {p['bucket']!r} already exists; refusing to adopt it. Choose another "
                               "name (bucket names are global), or delete the existing bucket first") from err
        return CreateResult(id_=p["bucket"], outs=self._outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Patch versioning / uniform bucket-level access when they changed."""
        p, old = revealed(news, INPUT_KEYS), revealed(olds, INPUT_KEYS)
        bucket = self._client(p).bucket(p["bucket"])
        dirty = False
        if old.get("uniform_bucket_level_access") != p["uniform_bucket_level_access"]:
            # iamConfiguration is patched as a whole: load it first so publicAccessPrevention is kept
            bucket.reload(timeout=TIMEOUT, retry=_retry())
            bucket.iam_configuration.uniform_bucket_level_access_enabled = bool(p["uniform_bucket_level_access"])
            dirty = True
        if old.get("versioning") != p["versioning"]:
            bucket.versioning_enabled = bool(p["versioning"])
            dirty = True
        if dirty:
            bucket.patch(timeout=TIMEOUT, retry=_retry())
        return UpdateResult(outs=self._outs(news))

    @staticmethod
    def _outs(props: Mapping[str, Any]) -> dict[str, Any]:
        outs = pass_through(props, INPUT_KEYS)
        outs["url"] = f"gs://{reveal(props['bucket'])}"
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Live versioning, uniform access and location; an empty id means the bucket is gone."""
        p = revealed(props, INPUT_KEYS)
        name = p.get("bucket") or id_
        bucket = self._client(p).lookup_bucket(name, timeout=TIMEOUT, retry=_retry())
        if bucket is None:
            return ReadResult(id_="", outs={})
        live: dict[str, Any] = {
            "bucket": name,
            "versioning": bool(bucket.versioning_enabled),
            "uniform_bucket_level_access": bool(bucket.iam_configuration.uniform_bucket_level_access_enabled),
        }
        if bucket.location:
            live["location"] = str(bucket.location).upper()
        outs = self._outs({**props, **live})
        inputs = {k: v for k, v in outs.items() if k in INPUT_KEYS}
        return ReadResult(id_=name, outs=outs, inputs=inputs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the bucket; missing is fine, non-empty needs ``force_destroy``."""
        from google.api_core.exceptions import NotFound

        p = revealed(props, INPUT_KEYS)
        name = p.get("bucket") or id_
        client = self._client(p)
        bucket = client.lookup_bucket(name, timeout=TIMEOUT, retry=_retry())
        if bucket is None:
            return
        blobs = client.list_blobs(bucket, versions=True, timeout=TIMEOUT, retry=_retry())
        first = next(iter(blobs), None)
        if first is not None:
            if not p.get("force_destroy"):
                raise RuntimeError(
                    f"GCS bucket {name!r} is not empty; refusing to delete it. Set force_destroy=True to delete "
                    "the bucket with all its objects and versions, or empty it first"
                )
            for blob in client.list_blobs(bucket, versions=True, timeout=TIMEOUT, retry=_retry()):
                with contextlib.suppress(NotFound):
                    bucket.delete_blob(blob.name, generation=blob.generation, timeout=TIMEOUT, retry=_retry())
        with contextlib.suppress(NotFound):
            bucket.delete(timeout=TIMEOUT, retry=_retry())


class GcsBucket(Resource, module="storage", name="GcsBucket"):
    """A Cloud Storage bucket (type ``pulumi-python:dynamic/storage:GcsBucket``).

    ``endpoint`` targets an emulator or GCS-compatible API (anonymous unless ``credentials`` is given).
    ``credentials`` is a service-account key's JSON content and is stored as a secret.
    """

    bucket: pulumi.Output[str]
    project: pulumi.Output[str]
    location: pulumi.Output[str]
    uniform_bucket_level_access: pulumi.Output[bool]
    versioning: pulumi.Output[bool]
    force_destroy: pulumi.Output[bool]
    endpoint: pulumi.Output[str | None]
    url: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        bucket: pulumi.Input[str],
        project: pulumi.Input[str] | None = None,
        location: pulumi.Input[str] = "US",
        uniform_bucket_level_access: pulumi.Input[bool] = True,
        versioning: pulumi.Input[bool] = False,
        force_destroy: pulumi.Input[bool] = False,
        endpoint: pulumi.Input[str] | None = None,
        credentials: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        self._credentials = secret_or_none(credentials)
        props: dict[str, Any] = {
            "bucket": bucket,
            "project": project,
            "location": location,
            "uniform_bucket_level_access": uniform_bucket_level_access,
            "versioning": versioning,
            "force_destroy": force_destroy,
            "endpoint": endpoint,
            "credentials": self._credentials,
            "url": None,
        }
        super().__init__(GcsBucketProvider(), resource_name, props, with_secret_outputs(opts, SECRET_KEYS))

    def registry_storage(
        self,
        root_directory: str = "",
        keyfile: str = "",
        credentials: pulumi.Input[str] | None = None,
    ) -> pulumi.Output[dict[str, Any]]:
        """The ``image_registry.registry.storage`` block: ``{"gcs": {...}}`` (KubeKey key names).

        ``keyfile`` is a key path on the registry host. ``credentials`` (key JSON; defaults to this
        bucket's) becomes the inline ``credentials`` mapping, and makes the whole Output secret.
        """
        creds = secret_or_none(credentials) if credentials is not None else self._credentials

        def build(args: list[Any]) -> dict[str, Any]:
            bucket, key_json = args
            return {"gcs": gcs_storage_block(bucket, keyfile, key_json, root_directory)}

        block = pulumi.Output.all(self.bucket, creds).apply(build)
        return pulumi.Output.secret(block) if creds is not None else block


def gcs_storage_block(
    bucket: str, keyfile: str = "", credentials_json: str | None = None, root_directory: str = ""
) -> dict[str, Any]:
    """The distribution ``gcs`` driver settings (plain values); ``credentials`` only with a key."""
    block: dict[str, Any] = {"bucket": bucket, "keyfile": keyfile}
    if credentials_json:
        block["credentials"] = json.loads(credentials_json)
    block["rootdirectory"] = root_directory
    return block
