"""The CNCF distribution registry: endpoint, config.yml per major version, compose project, systemd unit, and
the steps of the registry layers (NFS mount, image, service)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..artifacts import resolve
from ..errors import KKError
from ..pki import htpasswd_line
from ..plan import SecretFile, Step
from ..settings.model import Settings
from . import image_step, render, sh_quote
from .keepalived import with_drain

#: On-host layout.
REGISTRY_DIR = "/opt/pulumi-kk/registry"
UNIT = "pulumi-kk-registry.service"
PLACEHOLDER = "[secret]"
#: major version → where the image reads its config.
CONFIG_PATHS = {2: "/etc/docker/registry/config.yml", 3: "/etc/distribution/config.yml"}
#: Where the container sees ``storage.ca_file``.
STORAGE_CA_DIR = "/etc/registry/storage-ca"
#: Where the container sees a gcs ``keyfile`` given as a path on the registry host.
GCS_HOST_KEYFILE = "/etc/registry/gcs-keyfile.json"


@dataclass(frozen=True)
class Endpoint:
    """Where clients reach the registry: ``host:port``, scheme, optional Harbor-style project."""

    host: str
    port: int
    scheme: str
    project: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"


@dataclass(frozen=True)
class RegistrySecrets:
    """Values generated once (or given by the user) and delivered as secrets."""

    http_secret: str = PLACEHOLDER
    password: str = PLACEHOLDER
    tls_cert: str = ""
    tls_key: str = PLACEHOLDER
    ca_cert: str = ""
    storage: Mapping[str, Any] | None = None
    """Storage block from a bucket resource (``{"s3": {...}}``), overriding settings."""


def major_version(settings: Settings) -> int:
    v = settings.registry_version.lstrip("v")
    try:
        major = int(v.split(".")[0])
    except ValueError:
        major = -1
    if major not in CONFIG_PATHS:
        raise KKError(f"registry {settings.registry_version} has no known config schema.", key="registry_version",
                      fix="use a 2.x (e.g. 2.8.3) or 3.x (e.g. 3.0.0) registry version.")
    return major


def endpoint(settings: Settings, node_ips: Sequence[str]) -> Endpoint:
    """``auth.registry`` if set (``host[:port][/project]``), else the VIP (HA), else the first node."""
    reg = settings.image_registry
    scheme = "http" if reg.auth.plain_http else "https"
    raw = reg.auth.registry
    host, port, project = "", None, ""
    if raw:
        hostport, _, project = raw.partition("/")
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else None
        elif hostport.count(":") == 1:
            host, p = hostport.split(":")
            port = int(p)
        else:
            host = hostport
    elif reg.ha_vip and len(node_ips) > 1:
        host = reg.ha_vip
    elif node_ips:
        host = str(node_ips[0])
    if port is None:
        port = reg.registry.port or (reg.http_port or 80 if reg.auth.plain_http else reg.https_port or 443)
    return Endpoint(host, port, scheme, project)


def active_active(settings: Settings, node_ips: Sequence[str]) -> bool:
    """haproxy spreads the VIP's connections over every node (needs the VIP and ≥ 2 nodes)."""
    reg = settings.image_registry
    return reg.keepalived.active_active and bool(reg.ha_vip) and len(node_ips) > 1


def service_port(settings: Settings, node_ips: Sequence[str]) -> int:
    """The host port the registry container publishes: the endpoint's, or ``backend_port`` behind haproxy."""
    if active_active(settings, node_ips):
        return settings.image_registry.keepalived.backend_port
    return endpoint(settings, node_ips).port


def tls_sans(settings: Settings, node_ips: Sequence[str], hostnames: Sequence[str] = ()) -> list[str]:
    """Every name the certificate must carry: endpoint host, VIP, node IPs and names, localhost."""
    ep = endpoint(settings, node_ips)
    names = [ep.host, settings.image_registry.ha_vip, *node_ips, *hostnames, "localhost", "127.0.0.1"]
    return list(dict.fromkeys(n for n in names if n))


def storage_block(settings: Settings, major: int, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one ``storage`` driver block of config.yml (plus delete/redirect/cache/maintenance)."""
    st = settings.image_registry.registry.storage
    src: dict[str, Any] = {"s3": vars(st.s3), "gcs": vars(st.gcs), "azure": vars(st.azure)}
    driver = st.driver
    if override:
        (driver, values), = override.items()
        src[driver] = {**src.get(driver, {}), **{k: v for k, v in values.items() if v not in (None, "")}}
    block: dict[str, Any]
    if driver == "s3":
        s3 = src["s3"]
        block = {k: s3[k] for k in ("region", "bucket") if s3.get(k)}
        block.setdefault("region", "us-east-1")
        for k in ("regionendpoint", "accesskey", "secretkey", "keyid", "rootdirectory", "storageclass"):
            if s3.get(k):
                block[k] = s3[k]
        block.update(encrypt=bool(s3.get("encrypt")), secure=bool(s3.get("secure", True)),
                     skipverify=bool(s3.get("skipverify")), v4auth=True,
                     chunksize=int(s3.get("chunksize") or 10485760))
        if major >= 3:
            fps = s3.get("forcepathstyle")
            block["forcepathstyle"] = bool(s3.get("regionendpoint")) if fps is None else bool(fps)
        out: dict[str, Any] = {"s3": block}
    elif driver == "gcs":
        g = src["gcs"]
        block = {"bucket": g["bucket"], "chunksize": int(g.get("chunksize") or 5242880)}
        if g.get("keyfile_content"):
            block["keyfile"] = "/etc/registry/gcs/key.json"
        elif g.get("keyfile"):  # a path on the registry host, mounted read-only (compose_yml)
            block["keyfile"] = GCS_HOST_KEYFILE
        elif g.get("credentials"):
            block["credentials"] = dict(g["credentials"])
        if g.get("rootdirectory"):
            block["rootdirectory"] = g["rootdirectory"]
        out = {"gcs": block}
    elif driver == "azure":
        a = src["azure"]
        if major >= 3:
            block = {"credentials": {"type": "shared_key", "accountname": a["accountname"],
                                     "accountkey": a["accountkey"]},
                     "container": a["container"]}
            if a.get("serviceurl"):
                block["serviceurl"] = a["serviceurl"]
        else:
            block = {k: a[k] for k in ("accountname", "accountkey", "container", "realm") if a.get(k)}
        if a.get("rootdirectory"):
            block["rootdirectory"] = a["rootdirectory"]
        out = {"azure": block}
    else:
        out = {"filesystem": {"rootdirectory": "/var/lib/registry", "maxthreads": 100}}
    out["delete"] = {"enabled": settings.image_registry.registry.delete_enabled}
    out["cache"] = {"blobdescriptor": "inmemory"}
    out["maintenance"] = {"uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False}}
    if driver != "filesystem":
        out["redirect"] = {"disable": True}
    return out


def config_yml(settings: Settings, secrets: RegistrySecrets) -> str:
    """config.yml for the registry's major version; secrets are inside (the file is delivered as a secret)."""
    major = major_version(settings)
    reg = settings.image_registry
    # draintimeout: on SIGTERM (a restart) finish the requests in flight instead of cutting them (well within
    # docker's 10 s stop timeout)
    http: dict[str, Any] = {"addr": ":5000", "secret": secrets.http_secret, "draintimeout": "5s",
                            "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if not reg.auth.plain_http:
        http["tls"] = {"certificate": "/etc/registry/ssl/server.crt", "key": "/etc/registry/ssl/server.key"}
    conf: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": reg.registry.log_level, "formatter": "text", "fields": {"service": "registry"}},
        "storage": storage_block(settings, major, secrets.storage),
        "http": http,
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    if reg.registry.htpasswd:
        conf["auth"] = {"htpasswd": {"realm": "pulumi-kk registry", "path": "/etc/registry/auth/htpasswd"}}
    return yaml.safe_dump(conf, sort_keys=False, default_flow_style=False)


def compose_yml(settings: Settings, image: str, port: int, driver: str = "filesystem", gcs_keyfile: str = "") -> str:
    major = major_version(settings)
    reg = settings.image_registry.registry
    volumes = [f"{REGISTRY_DIR}/config.yml:{CONFIG_PATHS[major]}:ro", f"{REGISTRY_DIR}/ssl:/etc/registry/ssl:ro",
               f"{REGISTRY_DIR}/auth:/etc/registry/auth:ro", f"{REGISTRY_DIR}/gcs:/etc/registry/gcs:ro"]
    if driver == "filesystem":
        volumes.append(f"{reg.storage.filesystem.rootdir}:/var/lib/registry")
    if driver == "gcs" and gcs_keyfile:
        volumes.append(f"{gcs_keyfile}:{GCS_HOST_KEYFILE}:ro")
    service: dict[str, Any] = {
        "image": image, "restart": "always", "ports": [f"{port}:5000"], "volumes": volumes,
        "cap_drop": ["ALL"], "cap_add": ["CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"],
        "logging": {"driver": "json-file", "options": {"max-size": "50m", "max-file": "3"}},
    }
    env: dict[str, str] = {"OTEL_TRACES_EXPORTER": "none"} if major >= 3 else {}
    if reg.storage.ca_file:
        volumes.append(f"{REGISTRY_DIR}/storage-ca:{STORAGE_CA_DIR}:ro")
        # the image's own roots (Go's default file and dirs) plus the storage CA
        env["SSL_CERT_DIR"] = f"/etc/ssl/certs:/etc/pki/tls/certs:{STORAGE_CA_DIR}"
    if env:
        service["environment"] = env
    if reg.extra_hosts:
        service["extra_hosts"] = [f"{name}:{_address(name, addr)}" for name, addr in sorted(reg.extra_hosts.items())]
    return yaml.safe_dump({"name": "registry", "services": {"registry": service}}, sort_keys=False)


def _address(name: str, addr: str) -> str:
    try:
        return str(ipaddress.ip_address(str(addr)))
    except ValueError:
        raise KKError(f"{addr!r} is not an IP address.", key=f"image_registry.registry.extra_hosts.{name}",
                      fix="map each host name to an IPv4 or IPv6 address.") from None


def storage_ca(settings: Settings) -> str:
    """PEM text of ``storage.ca_file`` (read where Pulumi runs), or "" when unset."""
    path = settings.image_registry.registry.storage.ca_file
    if not path:
        return ""
    key = "image_registry.registry.storage.ca_file"
    try:
        text = Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError):
        raise KKError(f"cannot read {path!r}.", key=key, fix="give a readable PEM file with the CA certificate(s) "
                      "of the storage endpoint, or leave it empty.") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise KKError(f"{path!r} holds no PEM certificate.", key=key,
                      fix="give the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----).")
    return text


def _redact(text: str, secrets: RegistrySecrets, settings: Settings) -> str:
    """``text`` with every secret value (generated, given in settings, or from a bucket) replaced."""
    for s in (secrets.http_secret, secrets.password, secrets.tls_key):
        if s and s != PLACEHOLDER:
            text = text.replace(s, PLACEHOLDER)
    st = settings.image_registry.registry.storage
    from_settings = {"s3": {"secretkey": st.s3.secretkey}, "azure": {"accountkey": st.azure.accountkey}}
    for values in [*from_settings.values(), *(secrets.storage or {}).values()]:
        for k in ("secretkey", "accountkey"):
            if values.get(k):
                text = text.replace(str(values[k]), PLACEHOLDER)
    # a GCS service-account key is a multi-line value YAML escapes: redact it in the structure
    conf = yaml.safe_load(text)
    creds = ((conf or {}).get("storage") or {}).get("gcs", {}).get("credentials")
    if isinstance(creds, dict) and creds.get("private_key"):
        conf["storage"]["gcs"]["credentials"] = {**creds, "private_key": PLACEHOLDER}
        text = yaml.safe_dump(conf, sort_keys=False, default_flow_style=False)
    return text


def registry_steps(settings: Settings, arch: str, node_ip: str, node_ips: Sequence[str],
                   secrets: RegistrySecrets, nfs_host: str | None = None, delete_data: bool = False) -> list[Step]:
    """NFS mount (when configured) → image → config + service, on one registry host."""
    reg = settings.image_registry
    ep = endpoint(settings, node_ips)
    image_art = resolve("registry", settings, arch)
    image = image_art.image
    fs = reg.registry.storage.filesystem
    steps: list[Step] = []
    after: list[str] = ["compose-install"]
    driver = next(iter(secrets.storage)) if secrets.storage else reg.registry.storage.driver
    if driver == "filesystem" and fs.nfs_mount:
        if not nfs_host:
            raise KKError("storage.filesystem.nfs_mount is set but the nfs group has no host.",
                          key="image_registry.registry.storage.filesystem.nfs_mount",
                          fix="put exactly one host in spec.groups.nfs, or unset nfs_mount.")
        steps.append(Step(
            name="registry-nfs", layer="registry-nfs",
            script=render("registry/nfs-mount.sh.j2", step="registry-nfs", server=nfs_host, export=fs.nfs_mount,
                          mountpoint=fs.rootdir),
            delete=render("registry/nfs-unmount.sh.j2", step="registry-nfs", mountpoint=fs.rootdir),
            after=("docker-install",), description=f"mount {nfs_host}:{fs.nfs_mount} on {fs.rootdir}"))
        after.append("registry-nfs")
    steps.append(image_step("registry-image", image_art, settings))
    after.append("registry-image")

    names = list(dict.fromkeys([ep.address, f"{node_ip}:{ep.port}", f"localhost:{ep.port}", f"127.0.0.1:{ep.port}"]))
    if ep.port == 443:
        names += [ep.host, node_ip]
    config = config_yml(settings, secrets)
    secret_files = [SecretFile(f"{REGISTRY_DIR}/config.yml", config, "0600")]
    if reg.registry.htpasswd:
        secret_files.append(SecretFile(f"{REGISTRY_DIR}/auth/htpasswd",
                                       htpasswd_line(reg.auth.username, secrets.password) + "\n", "0600"))
    if not reg.auth.plain_http:
        secret_files.append(SecretFile(f"{REGISTRY_DIR}/ssl/server.key", secrets.tls_key, "0600"))
    gcs_key = (secrets.storage or {}).get("gcs", {}).get("keyfile_content") if secrets.storage else None
    if gcs_key:
        secret_files.append(SecretFile(f"{REGISTRY_DIR}/gcs/key.json", str(gcs_key), "0600"))
    port = service_port(settings, node_ips)
    gcs = {**vars(reg.registry.storage.gcs), **{k: v for k, v in ((secrets.storage or {}).get("gcs") or {}).items()
                                                 if v not in (None, "")}}
    host_keyfile = str(gcs.get("keyfile") or "") if driver == "gcs" and not gcs.get("keyfile_content") else ""
    if host_keyfile and not host_keyfile.startswith("/"):
        raise KKError(f"gcs keyfile {host_keyfile!r} is not an absolute path.",
                      key="image_registry.registry.storage.gcs.keyfile",
                      fix="give the key file's absolute path on the registry hosts (it is mounted read-only into the "
                          "registry container), or give the key itself as credentials.")
    compose = compose_yml(settings, image, port, driver, host_keyfile)
    unit = render("common/compose.service.j2", what="image registry", project="registry", dir=REGISTRY_DIR)
    files = {f"{REGISTRY_DIR}/docker-compose.yml": compose, f"/etc/systemd/system/{UNIT}": unit,
             f"{REGISTRY_DIR}/config.yml": _redact(config, secrets, settings)}
    ca = storage_ca(settings)
    if ca:
        files[f"{REGISTRY_DIR}/storage-ca/ca.crt"] = ca
    if not reg.auth.plain_http:
        files[f"{REGISTRY_DIR}/ssl/server.crt"] = secrets.tls_cert
        for n in names:
            files[f"/etc/docker/certs.d/{n}/ca.crt"] = secrets.ca_cert
    health = f"{ep.scheme}://127.0.0.1:{port}/"
    certs = [f"/etc/docker/certs.d/{n}" for n in names] if not reg.auth.plain_http else []
    drop_data = driver == "filesystem" and delete_data and not fs.nfs_mount
    steps.append(Step(
        name="registry-service", layer="registry",
        script=with_drain(render(
            "common/compose-service.sh.j2", step="registry-service", what="the registry",
            dir=REGISTRY_DIR, unit=UNIT, project="registry", service="registry", health=health, wait=90,
            files={p: t for p, t in files.items() if p not in {f.path for f in secret_files}},
            mkdirs=[f"{REGISTRY_DIR}/{d}" for d in ("ssl", "auth", "gcs")] + (
                [fs.rootdir] if driver == "filesystem" else [])), settings, node_ips),
        delete=render("common/compose-service-remove.sh.j2", step="registry-service", what="the registry",
                      dir=REGISTRY_DIR, unit=UNIT, project="registry", note=(
                          "removes its data" if drop_data else "keeps its data"),
                      cleanup=[f"rm -rf {sh_quote(c)}" for c in certs] + (
                          [f"rm -rf {sh_quote(fs.rootdir)}"] if drop_data else [])),
        after=tuple(after), secret_files=tuple(secret_files), files=files,
        description=f"registry {settings.registry_version} on {ep.url} ({driver})"))
    return steps


def summary(settings: Settings, node_ips: Sequence[str]) -> dict[str, Any]:
    ep = endpoint(settings, node_ips)
    return {"endpoint": ep.address, "url": ep.url, "driver": settings.image_registry.registry.storage.driver,
            "version": settings.registry_version}


def dumps(d: Mapping[str, Any]) -> str:
    return json.dumps(d, sort_keys=True)
