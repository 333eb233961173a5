"""Pulumi components: thin wiring of plan steps into pulumi-command resources."""

from .docker import Docker
from .image_registry import ImageRegistry

__all__ = ["Docker", "ImageRegistry"]
