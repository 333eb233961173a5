"""The typed settings model: KubeKey's names, KubeKey's defaults unless a safer one is documented here.

Every field is a dataclass field; :func:`pulumi_kk.settings.load.build` turns a merged dict into this model,
rejecting unknown keys (with a did-you-mean) and values of the wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Registry types; ``docker-registry`` is KubeKey v4's name for ``registry``.
REGISTRY_TYPES = ("harbor", "registry")
TYPE_ALIASES = {"docker-registry": "registry", "docker_registry": "registry"}
#: Storage drivers of the distribution registry, besides filesystem.
OBJECT_DRIVERS = ("s3", "gcs", "azure")


@dataclass(frozen=True)
class Auth:
    """``image_registry.auth``: the endpoint clients use and its credentials."""

    registry: str = ""
    """``host[:port][/project]``; default: the VIP, else the first image_registry node."""
    username: str = "admin"
    password: str = ""
    """Empty: a random password is generated once and kept as a Pulumi secret (KubeKey's Harbor12345 is not a
    safe default)."""
    plain_http: bool = False
    skip_tls_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class FilesystemStorage:
    rootdir: str = "/var/lib/docker-registry/data"
    nfs_mount: str = ""
    """Export path on the single ``nfs`` host; when set, ``rootdir`` is an NFS mount of it."""


@dataclass(frozen=True)
class S3Storage:
    bucket: str = ""
    region: str = ""
    regionendpoint: str = ""
    accesskey: str = ""
    secretkey: str = ""
    keyid: str = ""
    rootdirectory: str = ""
    encrypt: bool = False
    secure: bool = True
    skipverify: bool = False
    forcepathstyle: bool | None = None
    """Default: true when ``regionendpoint`` is set (S3-compatible stores)."""
    chunksize: int = 10485760
    storageclass: str = ""


@dataclass(frozen=True)
class GcsStorage:
    bucket: str = ""
    keyfile: str = ""
    credentials: dict[str, Any] = field(default_factory=dict)
    rootdirectory: str = ""
    chunksize: int = 5242880


@dataclass(frozen=True)
class AzureStorage:
    accountname: str = ""
    accountkey: str = ""
    container: str = ""
    realm: str = "core.windows.net"
    serviceurl: str = ""
    rootdirectory: str = ""


@dataclass(frozen=True)
class Storage:
    """``image_registry.registry.storage``: filesystem (default) or exactly one object store."""

    filesystem: FilesystemStorage = field(default_factory=FilesystemStorage)
    s3: S3Storage = field(default_factory=S3Storage)
    gcs: GcsStorage = field(default_factory=GcsStorage)
    azure: AzureStorage = field(default_factory=AzureStorage)
    ca_file: str = ""
    """PEM file (read where Pulumi runs) with the CA(s) of a storage endpoint behind a private CA (an S3-compatible
    store, an Azure endpoint behind a TLS proxy). The registry trusts it on top of its image's roots (mounted at
    /etc/registry/storage-ca, added through SSL_CERT_DIR)."""

    @property
    def drivers(self) -> list[str]:
        """Object-store drivers that are configured (their bucket/container is set)."""
        out = []
        if self.s3.bucket:
            out.append("s3")
        if self.gcs.bucket:
            out.append("gcs")
        if self.azure.container or self.azure.accountname:
            out.append("azure")
        return out

    @property
    def driver(self) -> str:
        """The active driver (validation guarantees at most one object store)."""
        d = self.drivers
        return d[0] if d else "filesystem"


@dataclass(frozen=True)
class RegistrySettings:
    """``image_registry.registry``: the CNCF distribution registry."""

    storage: Storage = field(default_factory=Storage)
    port: int | None = None
    """Host port; default from ``auth.registry`` or 443 (TLS) / 80 (plain_http)."""
    delete_enabled: bool = True
    log_level: str = "info"
    htpasswd: bool = True
    """Basic auth with ``auth.username``/``auth.password`` (bcrypt htpasswd); false: anonymous pull and push."""
    extra_hosts: dict[str, str] = field(default_factory=dict)
    """``hostname: address`` lines for the registry container's /etc/hosts (compose ``extra_hosts``): e.g. a storage
    endpoint (``<account>.blob.<realm>``, a private S3 name) that the container's DNS does not resolve."""


@dataclass(frozen=True)
class HarborSettings:
    data_dir: str = "/var/lib/harbor/data"


@dataclass(frozen=True)
class KeepalivedSettings:
    vrid: int | None = None
    """virtual_router_id; default derived from the registry name (never a fixed 51 or 31)."""
    interface: str = ""
    """Default: the interface whose CIDR contains ha_vip, from each host's facts."""
    vrrp_version: int = 3
    """3 (default): sub-second adverts, failover under ~1 s, no VRRP authentication (VRRPv3 has none; adverts
    from addresses other than the unicast peers are ignored). 2: ``auth_pass`` from a generated secret, adverts
    of at least 1 s (failover ~3 s)."""
    advert_int: float = 0.25
    priority: int = 150
    """Priority of the first node; each next node gets 10 less (all start BACKUP, with nopreempt)."""
    active_active: bool = False
    """Also run haproxy on every node, spreading the VIP's connections over every healthy registry (TCP, TLS
    passes through); the registries then listen on ``backend_port``."""
    backend_port: int = 5000


@dataclass(frozen=True)
class ImageRegistry:
    type: str = "harbor"
    ha_vip: str = ""
    rolling: bool = True
    """Registry changes proceed one node at a time: the next waits until the previous is healthy again."""
    http_port: int | None = None
    https_port: int | None = None
    auth: Auth = field(default_factory=Auth)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    harbor: HarborSettings = field(default_factory=HarborSettings)
    keepalived: KeepalivedSettings = field(default_factory=KeepalivedSettings)


@dataclass(frozen=True)
class DockerSettings:
    """``docker``: what goes into ``/etc/docker/daemon.json`` (and data-root)."""

    data_root: str = "/var/lib/docker"
    insecure_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=lambda: {"max-size": "100m", "max-file": "5"})
    bip: str = ""
    storage_driver: str = ""
    live_restore: bool = False
    daemon: dict[str, Any] = field(default_factory=dict)
    """Extra daemon.json keys, merged last."""


@dataclass(frozen=True)
class ArtifactSettings:
    """``artifact``: where offline files come from."""

    artifact_url: dict[str, dict[str, str]] = field(default_factory=dict)
    """``artifact_url.<name>.<arch>``: a path (relative to binary_dir or absolute) or a URL."""
    sha256: dict[str, dict[str, str]] = field(default_factory=dict)
    """``sha256.<name>.<arch>``: expected checksum of that artifact."""
    online: bool = True
    """When a file is not in binary_dir: let the host download it from upstream (false: fail instead)."""


@dataclass(frozen=True)
class PrecheckSettings:
    as_warnings: bool = False
    """Turn the seed's errors into warnings (labs and small test machines)."""
    min_memory_gb: float = 8.0
    min_disk_gb: float = 100.0
    min_cpus: int = 2


@dataclass(frozen=True)
class Settings:
    work_dir: str = "/root/kubekey"
    binary_dir: str = ""
    """Default ``{work_dir}/kubekey``."""
    remote_dir: str = "/opt/pulumi-kk"
    """Where uploaded artifacts and rendered files live on each host."""
    zone: str = ""
    docker_version: str = "24.0.7"
    dockercompose_version: str = "v2.20.3"
    harbor_version: str = "v2.10.2"
    registry_version: str = "2.8.3"
    keepalived_version: str = "2.3.4"
    haproxy_version: str = "2.8.5"
    image_registry: ImageRegistry = field(default_factory=ImageRegistry)
    docker: DockerSettings = field(default_factory=DockerSettings)
    artifact: ArtifactSettings = field(default_factory=ArtifactSettings)
    precheck: PrecheckSettings = field(default_factory=PrecheckSettings)

    @property
    def resolved_binary_dir(self) -> str:
        return self.binary_dir or f"{self.work_dir.rstrip('/')}/kubekey"


#: Keys whose values are secrets: redacted in plan.json, Output.secret in components.
SECRET_KEYS = frozenset({"password", "secretkey", "accountkey", "credentials", "private_key", "keyfile_content"})
