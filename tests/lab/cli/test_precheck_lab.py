"""`pulumi-kk precheck image_registry` and `pulumi-kk render registry` for real against lab hosts: each check
passes on a good host and fails, with its message, on a host made bad."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml

from pulumi_kk.cli.main import EXIT_FAILED, EXIT_OK, main

from ..artifacts import LabArtifacts
from ..hosts import LabHost, LabNetwork, LabRun

pytestmark = pytest.mark.lab

PKK = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "pulumi-kk"


def write_inventory(path: Path, hosts: Sequence[LabHost], key: Path, ha_vip: str = "") -> Path:
    """Several nodes get (unreached) S3 storage, as they must; one node keeps local filesystem storage."""
    shared = {"registry": {"storage": {"s3": {"bucket": "lab", "regionendpoint": "http://10.0.0.1:9000"}}}}
    doc = {
        "apiVersion": "kubekey.kubesphere.io/v1", "kind": "Inventory", "metadata": {"name": "lab"},
        "spec": {
            "hosts": {h.name: {"connector": {"type": "ssh", "host": h.ip, "port": h.port, "user": "root",
                                             "private_key": str(key)},
                               "internal_ipv4": h.ip} for h in hosts},
            "groups": {"image_registry": {"hosts": [h.name for h in hosts]}},
            "vars": {"image_registry": {"type": "registry", **({"ha_vip": ha_vip} if ha_vip else {}),
                                        **(shared if len(hosts) > 1 else {})}},
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def lab_sets(artifacts: LabArtifacts, *extra: str) -> list[str]:
    return ["--set", f"binary_dir={artifacts.binary_dir},artifact.online=false,"
                     f"docker_version={artifacts.versions('docker')[-1]},"
                     f"dockercompose_version={artifacts.versions('docker-compose')[-1]},"
                     f"registry_version={artifacts.versions('registry')[-1]},"
                     f"keepalived_version={artifacts.versions('keepalived')[-1]},"
                     "precheck.min_memory_gb=0,precheck.min_disk_gb=0,precheck.min_cpus=1",
            *[x for e in extra for x in ("--set", e)]]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    print(out, err)
    return rc, out, err


def rows(out: str) -> dict[tuple[str, str], str]:
    """(host, check) → RESULT, from the table."""
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] != "HOST" and not line.startswith(("-  ", "To fix", "- ")):
            for i in range(2, len(parts)):
                if parts[i] in ("OK", "ERROR", "WARNING"):
                    found[(parts[0], " ".join(parts[1:i]))] = parts[i]
                    break
    return found


@pytest.fixture(scope="module")
def two_hosts(lab_run: LabRun, lab_host_image: str) -> Sequence[LabHost]:
    return lab_run.start_hosts(2, name="pc")  # type: ignore[no-any-return]


def test_good_hosts_pass_and_render_needs_no_host(two_hosts: Sequence[LabHost], lab_run: LabRun,
                                                  lab_net: LabNetwork, lab_artifacts: LabArtifacts,
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = write_inventory(tmp_path / "inventory.yaml", two_hosts, lab_run.key_path, ha_vip=lab_net.vip(7))
    rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(inv), *lab_sets(lab_artifacts)])
    table = rows(out)
    assert rc == EXIT_OK, out
    for h in two_hosts:
        for check in ("os family", "arch", "memory", "tool tar", "tool iptables", "systemd", "port 443",
                      "vip subnet", "vip free", "artifact docker", "artifact registry", "artifact keepalived"):
            assert table[(h.name, check)] == "OK", (h.name, check, out)
        other = next(o for o in two_hosts if o is not h)
        assert table[(h.name, f"reaches {other.ip}")] == "OK"
    # render: the console script, no host contacted
    out_dir = tmp_path / "out"
    p = subprocess.run([str(PKK), "render", "registry", "-i", str(inv), *lab_sets(lab_artifacts), "-o", str(out_dir)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    plan = json.loads((out_dir / "plan.json").read_text())
    steps = [s["name"] for s in plan["hosts"][two_hosts[0].name]["steps"]]
    assert steps[:3] == ["docker-config", "docker-install", "compose-install"]
    assert "keepalived-service" in steps and "registry-service" in steps
    assert plan["hosts"][two_hosts[0].name]["artifacts"]["docker"]["source"] == "binary_dir"


Check = Callable[[dict[tuple[str, str], str], str], None]


def test_bad_hosts_fail_with_their_message(two_hosts: Sequence[LabHost], lab_run: LabRun, lab_net: LabNetwork,
                                           lab_artifacts: LabArtifacts, lab_hosts: Callable[..., list[LabHost]],
                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_hosts
    vip = lab_net.vip(8)
    (squatter,) = lab_hosts(1, name="squat")
    squatter.sh(f"ip addr add {vip}/{lab_net.prefixlen} dev eth0")      # the VIP answers from a foreign machine
    a.sh("/usr/sbin/sshd -p 443 -o PidFile=/run/sshd-443.pid")           # port 443 taken on one node
    try:
        inv = write_inventory(tmp_path / "inventory.yaml", two_hosts, lab_run.key_path, ha_vip=vip)
        rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(inv), *lab_sets(lab_artifacts)])
        table = rows(out)
        assert rc == EXIT_FAILED
        assert table[(a.name, "port 443")] == "ERROR" and table[(b.name, "port 443")] == "OK"
        assert "stop what listens on 443" in out
        assert table[(a.name, "vip free")] == "ERROR" and "pick an unused address" in out
        # thresholds raised by a setting
        rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(inv),
                                  *lab_sets(lab_artifacts, "precheck.min_memory_gb=100000,precheck.min_disk_gb=100000")])
        table = rows(out)
        assert table[(b.name, "memory")] == "ERROR" and "give the host more memory" in out
        assert (b.name, "disk") not in table          # object storage: no local disk needed
        single = write_inventory(tmp_path / "single.yaml", [b], lab_run.key_path)
        rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(single),
                                  *lab_sets(lab_artifacts, "precheck.min_disk_gb=100000")])
        assert rc == EXIT_FAILED and rows(out)[(b.name, "disk")] == "ERROR" and "add disk" in out
        # ... and the lab switch turns them into warnings
        rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(inv),
                                  *lab_sets(lab_artifacts, "precheck.min_memory_gb=100000,precheck.as_warnings=true")])
        assert rows(out)[(b.name, "memory")] == "WARNING"
    finally:
        a.sh("kill $(cat /run/sshd-443.pid) || true")
        squatter.sh(f"ip addr del {vip}/{lab_net.prefixlen} dev eth0 || true")


def test_missing_and_corrupted_artifacts(two_hosts: Sequence[LabHost], lab_run: LabRun,
                                         lab_artifacts: LabArtifacts, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    inv = write_inventory(tmp_path / "inventory.yaml", two_hosts[:1], lab_run.key_path)
    h = two_hosts[0].name
    # a wrong checksum for the docker tarball: a corrupted (or swapped) file
    rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(inv),
                              *lab_sets(lab_artifacts, "artifact.sha256.docker.amd64=" + "0" * 64)])
    assert rc == EXIT_FAILED
    assert rows(out)[(h, "artifact docker")] == "ERROR" and "checksum mismatch" in out
    # a binary_dir without the files, downloads off
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out, _ = run(capsys, ["precheck", "image_registry", "-i", str(inv),
                              *lab_sets(lab_artifacts, f"binary_dir={empty}")])
    assert rc == EXIT_FAILED
    assert rows(out)[(h, "artifact registry")] == "ERROR"
    assert "docker save registry:" in out      # the packaging instructions
