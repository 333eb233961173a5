"""The offline artifacts work on a lab host: every docker bundle's binaries load on bookworm, docker 26 (trixie
binaries) runs containers, the registry image serves pushes through compose v2, the keepalived image holds a VIP.

This is the proof behind the claims in lab/artifacts.py (which trixie binaries run on a bookworm host)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from .artifacts import LabArtifacts
from .common import need_tool
from .hosts import LabHost, LabNetwork

pytestmark = pytest.mark.lab

DOCKER_SERVICE = """\
[Unit]
Description=Docker (lab test)
After=network-online.target
[Service]
Type=notify
ExecStart=/usr/local/bin/dockerd -H unix:///var/run/docker.sock --storage-driver overlay2
Delegate=yes
KillMode=process
LimitNOFILE=1048576
Restart=on-failure
[Install]
WantedBy=multi-user.target
"""


def test_layout_and_versions(lab_artifacts: LabArtifacts) -> None:
    bd = lab_artifacts.binary_dir
    print(json.dumps(lab_artifacts.timings, indent=1))
    for kind in ("docker", "docker-compose", "registry", "keepalived", "haproxy"):
        assert len(lab_artifacts.versions(kind)) >= 1, kind
        for v in lab_artifacts.versions(kind):
            a = lab_artifacts.get(kind, v)
            print(f"{kind:15} {v:10} {a.release:9} {a.size / 1e6:6.1f} MB {a.notes}")
            assert a.path.is_file() and bd in a.path.parents
    assert len(lab_artifacts.versions("docker")) == 2  # bookworm and trixie: an upgrade pair
    for v in lab_artifacts.versions("docker"):
        assert (bd / f"docker/{v}/amd64/docker-{v}.tgz").is_file()
        out = subprocess.run(["tar", "-tzf", str(bd / f"docker/{v}/amd64/docker-{v}.tgz")],
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        assert sorted(out) == sorted(["docker/", *[f"docker/{n}" for n in (
            "containerd", "containerd-shim-runc-v2", "ctr", "docker", "dockerd", "docker-init", "docker-proxy",
            "runc")]])  # fmt: skip
    for v in lab_artifacts.versions("registry"):
        assert (bd / f"image-registry/registry/{v}/amd64/registry-{v}-linux-amd64.tgz").is_file()
        assert (bd / f"image-registry/docker-registry/{v}/amd64/docker-registry-{v}-linux-amd64.tgz").is_file()
    for v in lab_artifacts.versions("docker-compose"):
        assert v.startswith("v")
        got = subprocess.run([str(lab_artifacts.path("docker-compose", v)), "version"], capture_output=True,
                             text=True).stdout.strip()  # fmt: skip
        assert got == f"Docker Compose version {v}"


def test_tiny_images_are_distinct(lab_artifacts: LabArtifacts, tmp_path: Path) -> None:
    imgs = lab_artifacts.make_tiny_images(5, tmp_path)
    assert len({i.config_digest for i in imgs}) == 5
    again = lab_artifacts.make_tiny_images(5, tmp_path / "again")
    assert [i.config_digest for i in again] == [i.config_digest for i in imgs]  # deterministic
    salted = lab_artifacts.make_tiny_images(1, tmp_path / "salted", salt="x")
    assert salted[0].config_digest != imgs[0].config_digest


def _install_docker(h: LabHost, tgz: Path) -> None:
    h.put(tgz, "/tmp/docker.tgz")
    h.sh("tar -C /usr/local/bin/ --strip-components=1 --wildcards -xzf /tmp/docker.tgz 'docker/*' && rm /tmp/docker.tgz")
    h.run("cat > /etc/systemd/system/docker.service", stdin=DOCKER_SERVICE)
    h.sh("systemctl daemon-reload && systemctl enable --now docker.service && docker info --format '{{.Driver}}'")


def test_docker_bundles_load_on_bookworm_host(lab_artifacts: LabArtifacts, lab_hosts: object) -> None:
    (h,) = lab_hosts(1, name="bins")  # type: ignore[operator]
    for v in lab_artifacts.versions("docker"):
        h.put(lab_artifacts.path("docker", v), f"/tmp/docker-{v}.tgz")
        h.sh(f"mkdir -p /tmp/d-{v} && tar -C /tmp/d-{v} -xzf /tmp/docker-{v}.tgz")
        for b in ("dockerd", "docker", "containerd", "ctr", "containerd-shim-runc-v2", "runc", "docker-init",
                  "docker-proxy"):  # fmt: skip
            flag = "-v" if b == "containerd-shim-runc-v2" else "--version"
            r = h.run(f"/tmp/d-{v}/docker/{b} {flag} 2>&1", check=False)
            print(f"docker-{v} {b}: {r.stdout.strip().splitlines()[:1]}")
            assert "GLIBC" not in r.stdout and "error while loading shared libraries" not in r.stdout, r.stdout


def test_docker_upgrade_old_to_new_keeps_containers(lab_artifacts: LabArtifacts, lab_hosts: object) -> None:
    """The two docker bundles are a real upgrade pair: a container started by the old daemon (restart=always,
    published port) runs again under the new one."""
    (h,) = lab_hosts(1, name="upg")  # type: ignore[operator]
    old, new = lab_artifacts.versions("docker")[0], lab_artifacts.versions("docker")[-1]
    _install_docker(h, lab_artifacts.path("docker", old))
    assert h.sh("docker version --format '{{.Server.Version}}'").startswith(old)
    h.put(lab_artifacts.busybox_tar, "/tmp/busybox.tar")
    img = h.sh("docker load -i /tmp/busybox.tar").split()[-1]
    h.sh(f"docker run -d --name web --restart always -p 8080:8080 {img} httpd -f -p 8080 -h /etc")
    wait_web = "for n in $(seq 50); do curl -fs localhost:8080/passwd >/dev/null && exit 0; sleep 0.2; done; exit 1"
    h.sh(wait_web)
    h.sh("systemctl stop docker.service")
    _install_docker(h, lab_artifacts.path("docker", new))
    assert h.sh("docker version --format '{{.Server.Version}}'").startswith(new)
    h.sh(wait_web)
    assert h.sh("docker inspect -f '{{.State.Running}}' web") == "true"


def test_docker26_registry_compose_keepalived_end_to_end(
    lab_artifacts: LabArtifacts, lab_hosts: object, lab_net: LabNetwork
) -> None:
    need_tool("skopeo")
    (h,) = lab_hosts(1, name="e2e")  # type: ignore[operator]
    t0 = time.monotonic()
    new = lab_artifacts.versions("docker")[-1]
    _install_docker(h, lab_artifacts.path("docker", new))
    assert h.sh("docker version --format '{{.Server.Version}}'").startswith(new)
    h.put(lab_artifacts.busybox_tar, "/tmp/busybox.tar")
    loaded = h.sh("docker load -i /tmp/busybox.tar").split()[-1]
    assert h.sh(f"docker run --rm {loaded} echo hello-from-{new}") == f"hello-from-{new}"
    t_docker = time.monotonic() - t0

    # registry images via compose v2 (as KubeKey's docker-registry role: load the tgz, compose up)
    compose_v = lab_artifacts.versions("docker-compose")[-1]
    h.put(lab_artifacts.path("docker-compose", compose_v), "/usr/local/bin/docker-compose")
    h.sh("chmod 0755 /usr/local/bin/docker-compose")
    assert h.sh("docker-compose version") == f"Docker Compose version {compose_v}"
    services = []
    for i, v in enumerate(lab_artifacts.versions("registry")):
        h.put(lab_artifacts.path("registry", v), f"/tmp/registry-{v}.tgz")
        assert h.sh(f"docker load -i /tmp/registry-{v}.tgz") == f"Loaded image: registry:{v}"
        services.append(f"  r{i}:\n    image: registry:{v}\n    restart: always\n    ports: ['{5000 + i}:5000']\n")
    h.sh("mkdir -p /opt/registry")
    h.run("cat > /opt/registry/docker-compose.yml", stdin="services:\n" + "".join(services))
    h.sh("cd /opt/registry && docker-compose up -d")
    for i, v in enumerate(lab_artifacts.versions("registry")):
        h.sh(f"for n in $(seq 50); do curl -fs localhost:{5000 + i}/v2/ && exit 0; sleep 0.2; done; exit 1")
        assert v in h.sh(f"docker exec registry-r{i}-1 /bin/registry --version")
        # a shell and wget for compose health checks (busybox)
        assert h.sh(f"docker exec registry-r{i}-1 sh -c 'wget -q -O- http://127.0.0.1:5000/v2/'") == "{}"
    # push from this machine with skopeo (plain http)
    dest = f"docker://{h.ip}:5000/lab/busybox:1"
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"docker-archive:{lab_artifacts.busybox_tar}",
                    dest], check=True, capture_output=True)  # fmt: skip
    assert "lab/busybox" in h.sh("curl -fs localhost:5000/v2/_catalog")
    t_registry = time.monotonic() - t0 - t_docker

    # haproxy images (pulumi_kk's active-active balancer): official-image layout, run as user 0 on the host net
    for i, v in enumerate(lab_artifacts.versions("haproxy")):
        h.put(lab_artifacts.path("haproxy", v), f"/tmp/haproxy-{v}.tgz")
        assert h.sh(f"docker load -i /tmp/haproxy-{v}.tgz") == f"Loaded image: haproxy:{v}"
        cfg = (f"global\n  log stdout format raw local0 notice\ndefaults\n  mode tcp\n  timeout connect 3s\n"
               f"  timeout client 1m\n  timeout server 1m\nfrontend registry\n  bind :{5080 + i}\n"
               f"  default_backend registries\nbackend registries\n  balance roundrobin\n"
               f"  option httpchk GET /v2/\n  http-check expect status 200\n"
               f"  server r0 127.0.0.1:5000 check inter 1s\n  server r1 127.0.0.1:5001 check inter 1s\n")
        h.sh(f"mkdir -p /opt/haproxy-{i}")
        h.run(f"cat > /opt/haproxy-{i}/haproxy.cfg", stdin=cfg)
        h.sh(f"docker run -d --name hap-{i} --network host --user 0 "
             f"-v /opt/haproxy-{i}/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro haproxy:{v}")
        h.sh(f"for n in $(seq 50); do curl -fs localhost:{5080 + i}/v2/ && exit 0; sleep 0.2; done; "
             f"docker logs hap-{i}; exit 1")

    # keepalived images: --copy-service reads /container/service/keepalived/assets/keepalived.conf
    vips = {}
    for i, v in enumerate(lab_artifacts.versions("keepalived")):
        h.put(lab_artifacts.path("keepalived", v), f"/tmp/keepalived-{v}.tgz")
        assert h.sh(f"docker load -i /tmp/keepalived-{v}.tgz") == f"Loaded image: osixia/keepalived:{v}"
        vip = lab_net.vip(i)
        vips[v] = vip
        conf = (
            "global_defs {\n  router_id lab\n  script_user root\n  enable_script_security\n}\n"
            "vrrp_script chk {\n  script \"/usr/bin/curl -fs http://127.0.0.1:5000/v2/\"\n  interval 1\n}\n"
            f"vrrp_instance VI_{i} {{\n  state MASTER\n  interface eth0\n  virtual_router_id {60 + i}\n"
            f"  priority 150\n  advert_int 1\n  authentication {{\n    auth_type PASS\n    auth_pass lab{i}\n  }}\n"
            f"  virtual_ipaddress {{\n    {vip}/{lab_net.prefixlen}\n  }}\n  track_script {{\n    chk\n  }}\n}}\n"
        )
        h.sh(f"mkdir -p /opt/keepalived/{v}")
        h.run(f"cat > /opt/keepalived/{v}/keepalived.conf", stdin=conf)
        h.sh(
            f"docker run -d --name ka-{i} --network host --cap-add NET_ADMIN --cap-add NET_BROADCAST "
            f"--cap-add NET_RAW -v /opt/keepalived/{v}/keepalived.conf:"
            f"/container/service/keepalived/assets/keepalived.conf osixia/keepalived:{v} --copy-service"
        )
    for i, (v, vip) in enumerate(vips.items()):
        ok = h.run(f"for n in $(seq 100); do ip -o addr show dev eth0 | grep -q ' {vip}/' && exit 0; sleep 0.1; "
                   "done; exit 1", check=False)  # fmt: skip
        logs = h.sh(f"docker logs ka-{i} 2>&1 | tail -n 15")
        print(f"keepalived {v} logs:\n{logs}")
        assert ok.exit_status == 0, f"VIP {vip} not on eth0 with keepalived {v}"
        assert f"Keepalived v{v}" in h.sh(f"docker logs ka-{i} 2>&1 | head -n 5")
    # the VIP answers from this machine (the registry behind it)
    out = subprocess.run(["curl", "-fs", "-m", "5", f"http://{vips[lab_artifacts.versions('keepalived')[-1]]}:5000/v2/"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0
    print(f"docker {new} up {t_docker:.1f}s, registries+push {t_registry:.1f}s, "
          f"total {time.monotonic() - t0:.1f}s")  # fmt: skip
