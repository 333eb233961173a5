"""Shared storage for two registry nodes on real lab hosts: S3 (moto), NFS-style shared filesystem, Azure Blob
(Azurite + the self-built registry with the azure driver); GCS only as rendered config.

The two hosts (A, B) and one Replay state are shared by the tests of this module, which run in file order and
move the same two-node ImageRegistry from one storage to the next:

  1. S3 through an ``S3Bucket`` resource in the program (``storage=bucket.registry_storage()``)
  2. S3 through ``image_registry.registry.storage.s3.*`` settings (a second bucket, made with boto3)
  3. filesystem on ``storage.filesystem.nfs_mount`` with one ``nfs`` host. The lab kernel has no NFS at all
     (no nfs/nfsd in /proc/filesystems, no CONFIG_NFS_FS/CONFIG_NFSD; modules cannot load), so only the NFS
     transport is stubbed: ``/usr/sbin/mount.nfs`` on each host bind-mounts the export from a Docker volume that
     both host containers mount at /srv/nfs (the "NFS server"). fstab, ``mount``, ``mountpoint`` and ``umount``
     are real, and the registry data really is shared by the two nodes.
  4. Azure: Azurite over HTTPS on the lab gateway:443 as ``<account>.blob.<realm>``, the registry 2.8.2 image
     with the azure driver from its own binary_dir (lab/azure_lab.py), plus the settings ``extra_hosts`` and
     ``storage.ca_file``. Switching to it also deletes step 3's NFS mount.
  5. destroy: the registries go, the object-store data stays.

Every shared-storage step proves the same things: both nodes carry the same generated http.secret, an image pushed
to one node is pulled from the other with the same digest (blobs re-hashed), the blobs are in the store (listed with
its own SDK), and a chunked upload started on A is continued and completed on B (a state token signed with another
secret is refused: the negative control).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from servers import Emulator

from pulumi_kk.components import ImageRegistry
from pulumi_kk.errors import KKError
from pulumi_kk.inventory import Host, Inventory
from pulumi_kk.render.registry import (
    GCS_HOST_KEYFILE,
    RegistrySecrets,
    compose_yml,
    config_yml,
    registry_steps,
)
from pulumi_kk.settings import Settings
from pulumi_kk.storage import S3Bucket
from pulumi_kk.storage.gcs import gcs_storage_block

from ..artifacts import LabArtifacts, TinyImage
from ..azure_lab import AZURE_CONTAINER, Azurite, azure_binary_dir
from ..azure_lab import VERSION as AZURE_VERSION
from ..common import docker
from ..hosts import LabHost, LabNetwork, LabRun
from ..kk import as_host, settings
from ..replay import ApplyReport, Replay
from .conftest import (
    RegistryClient,
    apply_explained,
    blob_digests,
    cross_replica_upload,
    prepare_hosts,
    registry_config,
    s3_client,
    timed,
)

pytestmark = pytest.mark.lab

DATA_DIR = "/var/lib/docker-registry/data"
NFS_EXPORT = "/exports/registry"
NFS_VOLUME_AT = "/srv/nfs"
#: The stubbed NFS transport: util-linux `mount` runs /sbin/mount.<type> for type nfs (fstab line by pulumi_kk).
MOUNT_NFS_STUB = f"""#!/bin/sh
# lab stub of the NFS client helper: this kernel has no NFS. Called by mount(8) as: mount.nfs SERVER:EXPORT DIR [-o ..]
echo "mount.nfs $*" >> /var/log/kk-mount-nfs.log
export_path=${{1#*:}}
mkdir -p "{NFS_VOLUME_AT}$export_path"
exec mount --bind "{NFS_VOLUME_AT}$export_path" "$2"
"""


def blob_key(digest: str) -> str:
    hexd = digest.split(":", 1)[1]
    return f"docker/registry/v2/blobs/sha256/{hexd[:2]}/{hexd}/data"


@dataclass
class St:
    a: LabHost
    b: LabHost
    net: LabNetwork
    artifacts: LabArtifacts
    replay: Replay
    workdir: Path
    images: list[TinyImage]
    s3: Emulator
    buckets: tuple[str, str]

    def inventory(self, nfs: bool = False) -> Inventory:
        hosts = [as_host(self.a), as_host(self.b)]
        groups = {"image_registry": [self.a.name, self.b.name]}
        if nfs:  # the "NFS server" is this machine as the hosts see it (the address only goes into fstab)
            hosts.append(Host(name="nfs", address=self.net.gateway))
            groups["nfs"] = ["nfs"]
        return Inventory.from_hosts(hosts, groups=groups)

    def program(self, s: Settings, *, bucket: bool = False, nfs: bool = False) -> Callable[[], ImageRegistry]:
        inv = self.inventory(nfs)
        endpoint = self.s3.endpoint
        name = self.buckets[0]

        def program() -> ImageRegistry:
            storage = None
            if bucket:
                b = S3Bucket("registry-bucket", bucket=name, region="us-east-1", endpoint=endpoint,
                             access_key="testing", secret_key="testing", force_destroy=True)
                storage = b.registry_storage()
            reg = ImageRegistry("reg", inv, s, storage=storage)
            for k in ("endpoint", "ca_cert", "username", "password", "versions"):
                pulumi.export(k, getattr(reg, k))
            return reg

        return program

    def apply(self, what: str, s: Settings, **kw: Any) -> ApplyReport:
        return apply_explained(self.replay, self.program(s, **kw), f"storage: {what}")

    def clients(self, rep: ApplyReport) -> tuple[RegistryClient, RegistryClient]:
        out = rep.outputs
        return tuple(RegistryClient(f"{h.ip}:443", out["ca_cert"], out["username"], out["password"],  # type: ignore[return-value]
                                    self.workdir) for h in (self.a, self.b))

    def shared_secret(self) -> str:
        """http.secret of both nodes (asserted equal, generated, not a placeholder)."""
        sa, sb = (registry_config(h)["http"]["secret"] for h in (self.a, self.b))
        assert sa == sb and len(sa) >= 32 and sa != "[secret]", (sa, sb)
        return str(sa)

    def step(self, host: LabHost, name: str) -> str:
        return f"reg-{host.name}-{name}"


def ran(rep: ApplyReport) -> list[tuple[str, str]]:
    """(resource, op) of every command that ran (copies excluded); op: create/update/replace/delete."""
    return sorted((r.name, r.op) for r in rep.resources.values() for x in r.ran if x.action != "copy")


def push_here_pull_there(st: St, src: RegistryClient, dst: RegistryClient, image: TinyImage, ref: str,
                         what: str) -> tuple[str, list[str]]:
    with timed(f"storage: {what}: push to one node, pull from the other"):
        digest = src.push(image, ref)
        got, manifest = dst.pull(ref)
    assert got == digest, f"{ref}: pushed {digest} to {src.address}, {dst.address} serves {got}"
    assert manifest["config"]["digest"] == image.config_digest
    return digest, blob_digests(manifest)


@pytest.fixture(scope="module")
def st(lab_run: LabRun, lab_host_image: str, lab_artifacts: LabArtifacts, lab_net: LabNetwork, lab_s3: Emulator,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[St]:
    volume = f"{lab_run.prefix}-nfs-export"
    docker("volume", "create", *lab_run.labels(), volume)
    try:
        with timed("storage: start 2 hosts"):
            a, b = lab_run.start_hosts(2, image=lab_host_image, name="st",
                                       extra_args=["-v", f"{volume}:{NFS_VOLUME_AT}"])
            prepare_hosts([a, b])
        work = tmp_path_factory.mktemp("registry-storage")
        try:
            yield St(a, b, lab_net, lab_artifacts, Replay(work / "state.json"), work,
                     lab_artifacts.make_tiny_images(5, work / "img", salt=lab_run.run_id), lab_s3,
                     (f"kk-registry-{lab_run.run_id}", f"kk-registry-settings-{lab_run.run_id}"))
        finally:
            lab_run.remove_hosts([a, b])
    finally:
        if not lab_run.keep:
            docker("volume", "rm", "-f", volume, check=False)


def bucket_keys(st: St, bucket: str) -> set[str]:
    client: Any = s3_client(st.s3)
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return keys


# ------------------------------------------------------------------------------------------------ S3


def test_s3_bucket_resource_shared_by_two_nodes(st: St) -> None:
    s = settings(st.artifacts, {"image_registry": {"type": "registry"}})
    rep = st.apply("S3Bucket + ImageRegistry(storage=bucket.registry_storage()) on 2 hosts", s, bucket=True)
    assert rep.by_name("registry-bucket").op == "create"
    a, b = st.clients(rep)
    secret = st.shared_secret()
    conf = registry_config(st.a)["storage"]
    assert conf["s3"]["bucket"] == st.buckets[0] and conf["s3"]["regionendpoint"] == st.s3.endpoint
    assert conf["redirect"] == {"disable": True} and "filesystem" not in conf
    digest, blobs = push_here_pull_there(st, a, b, st.images[0], "lab/s3:1", "S3 (bucket resource)")
    with timed("storage: S3 cross-replica chunked upload"):
        up = cross_replica_upload(a, b, "lab/s3-chunked", secret)
    keys = bucket_keys(st, st.buckets[0])
    missing = [d for d in [*blobs, up] if blob_key(d) not in keys]
    assert not missing, f"not in bucket {st.buckets[0]}: {missing} (have {sorted(keys)[:20]})"
    assert any("repositories/lab/s3/_manifests/tags/1" in k for k in keys)
    for h in (st.a, st.b):  # nothing on local disk: the nodes keep no data of their own
        assert h.run(f"test -e {DATA_DIR}", check=False).exit_status != 0
    assert st.apply("again (unchanged)", s, bucket=True).commands_run == 0
    print(f"S3 bucket resource: {len(keys)} objects, manifest {digest}")


def test_s3_from_settings(st: St) -> None:
    s3: Any = s3_client(st.s3)
    s3.create_bucket(Bucket=st.buckets[1])  # the 2.8 s3 driver does not create buckets
    s = settings(st.artifacts, {"image_registry": {"type": "registry", "registry": {"storage": {"s3": {
        "bucket": st.buckets[1], "region": "us-east-1", "regionendpoint": st.s3.endpoint,
        "accesskey": "testing", "secretkey": "testing", "secure": False}}}}})
    rep = st.apply("storage.s3.* settings (second bucket)", s)
    assert ran(rep) == sorted((st.step(h, "registry-service"), "update") for h in (st.a, st.b)), rep.summary()
    a, b = st.clients(rep)
    secret = st.shared_secret()
    assert registry_config(st.b)["storage"]["s3"]["bucket"] == st.buckets[1]
    _, blobs = push_here_pull_there(st, b, a, st.images[1], "lab/s3:2", "S3 (settings)")
    up = cross_replica_upload(b, a, "lab/s3-chunked-2", secret)
    keys2, keys1 = bucket_keys(st, st.buckets[1]), bucket_keys(st, st.buckets[0])
    assert all(blob_key(d) in keys2 for d in [*blobs, up])
    assert blob_key(st.images[1].config_digest) not in keys1


# ------------------------------------------------------------------------------------------------ NFS


def test_nfs_mount_shared_by_two_nodes(st: St) -> None:
    kernel_nfs = st.a.sh("grep -w -e nfs -e nfs4 -e nfsd /proc/filesystems || true")
    print(f"kernel NFS support on the lab hosts: {kernel_nfs or 'none'} (the NFS transport is stubbed either way)")
    for h in (st.a, st.b):
        h.run("cat > /usr/sbin/mount.nfs && chmod 0755 /usr/sbin/mount.nfs && rm -f /var/log/kk-mount-nfs.log",
              stdin=MOUNT_NFS_STUB)
    s = settings(st.artifacts, {"image_registry": {"type": "registry", "registry": {"storage": {
        "filesystem": {"nfs_mount": NFS_EXPORT}}}}})
    rep = st.apply("filesystem on nfs_mount (nfs group: 1 host)", s, nfs=True)
    expected = sorted([*((st.step(h, "registry-nfs"), "create") for h in (st.a, st.b)),
                       *((st.step(h, "registry-service"), "update") for h in (st.a, st.b))])
    assert ran(rep) == expected, rep.summary()
    line = f"{st.net.gateway}:{NFS_EXPORT} {DATA_DIR} nfs defaults,_netdev 0 0 # pulumi-kk"
    for h in (st.a, st.b):
        assert h.sh("grep '# pulumi-kk$' /etc/fstab") == line
        assert h.run(f"mountpoint -q {DATA_DIR}", check=False).exit_status == 0
        assert h.sh("cat /var/log/kk-mount-nfs.log").startswith(f"mount.nfs {st.net.gateway}:{NFS_EXPORT} {DATA_DIR}")
    a, b = st.clients(rep)
    secret = st.shared_secret()
    _, blobs = push_here_pull_there(st, a, b, st.images[2], "lab/nfs:1", "NFS")
    cross_replica_upload(a, b, "lab/nfs-chunked", secret)
    on_server = st.b.sh(f"find {NFS_VOLUME_AT}{NFS_EXPORT}/docker/registry/v2/blobs -name data | wc -l")
    assert int(on_server) >= len(blobs) + 1
    # the mount step again, as rendered (stored create of the resource): idempotent
    urn = next(u for u, e in st.replay.resources().items() if e["name"] == st.step(st.a, "registry-nfs"))
    st.a.run(st.replay.resources()[urn]["inputs"]["create"])
    assert st.a.sh("grep -c '# pulumi-kk$' /etc/fstab") == "1"
    assert st.a.sh("wc -l < /var/log/kk-mount-nfs.log") == "1", "mounted twice"
    assert st.apply("again (unchanged)", s, nfs=True).commands_run == 0


# ------------------------------------------------------------------------------------------------ Azure


def test_azure_blob_shared_by_two_nodes(st: St, lab_azurite: Azurite) -> None:
    az = lab_azurite
    with timed("storage: azure registry image + binary_dir"):
        bdir = azure_binary_dir(st.artifacts)
    s = settings(st.artifacts, {
        "binary_dir": str(bdir),
        "image_registry": {"type": "registry", "registry": {
            "extra_hosts": {az.blob_host: st.net.gateway},
            "storage": {"azure": {"accountname": az.account, "accountkey": az.key, "container": AZURE_CONTAINER,
                                  "realm": az.realm},
                        "ca_file": str(az.ca_file)}}}}, registry_version=AZURE_VERSION)
    try:
        rep = st.apply(f"azure (registry {AZURE_VERSION}+azure, Azurite https)", s)
    except Exception:
        print(az.log_tail())
        raise
    names = {n for n, _ in ran(rep)}
    for h in (st.a, st.b):
        assert {st.step(h, "registry-image"), st.step(h, "registry-service")} <= names
        assert rep.by_name(st.step(h, "registry-nfs")).op == "delete"  # the NFS mount went with the switch
        assert h.run(f"mountpoint -q {DATA_DIR}", check=False).exit_status != 0
        assert h.run("grep -q '# pulumi-kk$' /etc/fstab", check=False).exit_status != 0
        assert "+azure" in h.sh("docker exec registry-registry-1 /bin/registry --version")
        host_cfg = json.loads(h.sh("docker inspect -f '{{json .HostConfig.ExtraHosts}}' registry-registry-1"))
        assert f"{az.blob_host}:{st.net.gateway}" in host_cfg
        env = h.sh("docker inspect -f '{{json .Config.Env}}' registry-registry-1")
        assert "SSL_CERT_DIR=" in env and "/etc/registry/storage-ca" in env
    assert st.a.sh(f"find {NFS_VOLUME_AT}{NFS_EXPORT}/docker -name data | wc -l") != "0", "NFS data gone"
    a, b = st.clients(rep)
    secret = st.shared_secret()
    _, blobs = push_here_pull_there(st, a, b, st.images[3], "lab/azure:1", "Azure")
    up = cross_replica_upload(a, b, "lab/azure-chunked", secret)
    cc: Any = az.container_client()
    stored = {bl.name.lstrip("/") for bl in cc.list_blobs()}
    missing = [d for d in [*blobs, up] if blob_key(d) not in stored]
    assert not missing, f"not in Azure container {AZURE_CONTAINER}: {missing} (have {sorted(stored)[:20]})"
    print(f"Azure: {len(stored)} blobs in container {AZURE_CONTAINER!r}")


def test_destroy_leaves_object_storage_alone(st: St, lab_azurite: Azurite) -> None:
    cc: Any = lab_azurite.container_client()
    before = {bl.name for bl in cc.list_blobs()}
    with timed("storage: destroy"):
        rep = st.replay.destroy()
    print(rep.summary())
    for h in (st.a, st.b):
        assert h.run("pgrep -f 'registry serve'", check=False).exit_status != 0
        assert h.run("test -e /opt/pulumi-kk/registry", check=False).exit_status != 0
    assert {bl.name for bl in cc.list_blobs()} == before
    assert bucket_keys(st, st.buckets[0]) and bucket_keys(st, st.buckets[1])


# ------------------------------------------------------------------------------------------------ GCS


def test_gcs_config_rendered() -> None:
    """GCS cannot run end to end here (Debian's registry has no gcs driver; 2.8's cannot be built from Debian
    packages, storage-emulators.md §4.3): the rendered config, compose file and secret delivery are checked."""
    from ..artifacts import BINARY_DIR

    key = {"type": "service_account", "project_id": "kk-lab", "private_key_id": "k1",
           "private_key": "-----BEGIN PRIVATE KEY-----\nLABONLY\n-----END PRIVATE KEY-----\n",
           "client_email": "registry@kk-lab.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}
    base = {"binary_dir": str(BINARY_DIR), "registry_version": "2.8.3", "artifact": {"online": True}}
    from pulumi_kk.settings import Layer, build

    # 1. from settings (KubeKey's names): bucket, credentials, rootdirectory, chunksize
    s = build([Layer({**base, "image_registry": {"type": "registry", "registry": {"storage": {"gcs": {
        "bucket": "kk-gcs", "credentials": key, "rootdirectory": "/registry", "chunksize": 5242880 * 2}}}}}, "t")])
    secrets = RegistrySecrets(http_secret="h" * 48, password="p" * 24, tls_cert="CERT", tls_key="KEY", ca_cert="CA")
    conf = yaml.safe_load(config_yml(s, secrets))
    assert conf["storage"]["gcs"] == {"bucket": "kk-gcs", "chunksize": 10485760, "credentials": key,
                                      "rootdirectory": "/registry"}
    assert "filesystem" not in conf["storage"] and conf["storage"]["redirect"] == {"disable": True}
    assert conf["http"]["secret"] == "h" * 48
    compose = yaml.safe_load(compose_yml(s, "registry:2.8.3", 443, "gcs"))
    vols = compose["services"]["registry"]["volumes"]
    assert not any(v.endswith(":/var/lib/registry") for v in vols)
    steps = registry_steps(s, "amd64", "10.0.0.1", ["10.0.0.1", "10.0.0.2"], secrets)
    svc = steps[-1]
    assert next(f.path for f in svc.secret_files) == "/opt/pulumi-kk/registry/config.yml"
    assert key["private_key"] not in svc.script and "LABONLY" not in svc.script
    assert "LABONLY" not in svc.files["/opt/pulumi-kk/registry/config.yml"], "readable config copy leaks the key"
    # 2. from a GcsBucket's registry_storage block with an inline key: the key file is delivered as a secret
    block = gcs_storage_block("kk-gcs-2", "", json.dumps(key), "/r")
    assert yaml.safe_load(config_yml(s, RegistrySecrets(storage={"gcs": block})))["storage"]["gcs"]["credentials"] == key
    with_file = RegistrySecrets(storage={"gcs": {"bucket": "kk-gcs-3", "keyfile_content": json.dumps(key)}})
    conf3 = yaml.safe_load(config_yml(s, with_file))
    assert conf3["storage"]["gcs"]["keyfile"] == "/etc/registry/gcs/key.json"
    files = {f.path: f for f in registry_steps(s, "amd64", "10.0.0.1", ["10.0.0.1"], with_file)[-1].secret_files}
    assert json.loads(files["/opt/pulumi-kk/registry/gcs/key.json"].content) == key
    assert "/opt/pulumi-kk/registry/gcs:/etc/registry/gcs:ro" in vols
    # 3. keyfile as a path on the registry host (GcsBucket.registry_storage(keyfile=...)): mounted read-only, and it
    #    wins over the bucket's inline credentials, as in the driver
    on_host = RegistrySecrets(storage={"gcs": gcs_storage_block("kk-gcs-4", "/etc/registry/gcs.json", json.dumps(key))})
    assert yaml.safe_load(config_yml(s, on_host))["storage"]["gcs"]["keyfile"] == GCS_HOST_KEYFILE
    svc4 = registry_steps(s, "amd64", "10.0.0.1", ["10.0.0.1"], on_host)[-1]
    vols4 = yaml.safe_load(svc4.files["/opt/pulumi-kk/registry/docker-compose.yml"])["services"]["registry"]["volumes"]
    assert f"/etc/registry/gcs.json:{GCS_HOST_KEYFILE}:ro" in vols4
    relative = RegistrySecrets(storage={"gcs": {"bucket": "kk-gcs-5", "keyfile": "gcs.json"}})
    with pytest.raises(KKError, match="not an absolute path"):
        registry_steps(s, "amd64", "10.0.0.1", ["10.0.0.1"], relative)
