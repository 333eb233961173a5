"""pulumi_kk: Pulumi components that turn plain Linux hosts into a private image registry, KubeKey-compatible.

The pure core (inventory, settings, artifacts, facts, plan, render) imports no Pulumi; the components do.
"""

from .errors import KKError
from .inventory import Host, Inventory, load_config, load_inventory
from .settings import Settings
from .sources import Sources, load_sources

__all__ = ["Host", "Inventory", "KKError", "Settings", "Sources", "load_config", "load_inventory", "load_sources"]
__version__ = "0.1.0"
