"""Settings: the typed model, the ``--set`` parser, and the merge of every source."""

from .load import Layer, build, deep_merge, normalize, redacted, to_dict
from .model import Settings
from .setflags import parse_set

__all__ = ["Layer", "Settings", "build", "deep_merge", "normalize", "parse_set", "redacted", "to_dict"]
