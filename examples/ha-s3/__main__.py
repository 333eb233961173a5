"""Three registry nodes sharing one S3 bucket, behind a keepalived virtual IP.

The nodes, their SSH access and ``image_registry.ha_vip`` come from a KubeKey inventory (``inventory.yaml``); the
bucket is created by ``pulumi_kk.storage.S3Bucket`` and handed to the registry as its storage, so every node serves
the same images. See README.md.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from pulumi_kk.components.image_registry import ImageRegistry
from pulumi_kk.sources import load_sources
from pulumi_kk.storage import S3Bucket

HERE = Path(__file__).resolve().parent
config = pulumi.Config()
bucket_name = config.require("bucket")

bucket = S3Bucket(
    "registry-bucket",
    bucket=bucket_name,
    region=config.get("region"),
    endpoint=config.get("endpoint"),
    versioning=True,
    force_destroy=config.get_bool("forceDestroy") or False,
    tags={"app": "image-registry", "stack": pulumi.get_stack()},
)
# The registry's `s3` storage block: bucket, region and endpoint from the bucket resource, keys (if any) as secrets.
storage = bucket.registry_storage(
    root_directory="/registry",
    access_key=config.get_secret("registryAccessKey"),
    secret_key=config.get_secret("registrySecretKey"),
)

sources = load_sources(
    HERE / (config.get("inventory") or "inventory.yaml"),
    pulumi_config=config.get_object("settings") or {},
    # The settings say object storage too: several nodes on local disks would each keep different images.
    sets=[f"image_registry.registry.storage.s3.bucket={bucket_name}"],
)
registry = ImageRegistry("registry", sources.inventory, sources.settings, storage=storage)

pulumi.export("bucket", bucket.bucket)
pulumi.export("url", registry.url)
pulumi.export("endpoint", registry.endpoint)
pulumi.export("nodes", registry.nodes)
pulumi.export("ca_cert", registry.ca_cert)
pulumi.export("username", registry.username)
pulumi.export("password", registry.password)  # a secret: `pulumi stack output password --show-secrets`
pulumi.export("versions", registry.versions)
