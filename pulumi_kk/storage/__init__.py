"""Cloud buckets for the registry's storage: S3, GCS and Azure Blob dynamic resources.

Importing this package has no side effects and does not import Pulumi (so ``validate`` stays
importable on its own); the classes below load lazily, and SDK clients are imported inside the
provider methods.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .azure import AzureBlobContainer, AzureBlobContainerProvider
    from .gcs import GcsBucket, GcsBucketProvider
    from .s3 import S3Bucket, S3BucketProvider

_LAZY = {
    "AzureBlobContainer": "azure",
    "AzureBlobContainerProvider": "azure",
    "GcsBucket": "gcs",
    "GcsBucketProvider": "gcs",
    "S3Bucket": "s3",
    "S3BucketProvider": "s3",
}
__all__ = [
    "AzureBlobContainer",
    "AzureBlobContainerProvider",
    "GcsBucket",
    "GcsBucketProvider",
    "S3Bucket",
    "S3BucketProvider",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
