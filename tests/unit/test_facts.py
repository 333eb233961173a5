"""Host facts: the parser of the facts command's output, and the command itself run locally."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pulumi_kk.errors import KKError
from pulumi_kk.facts import Facts, Interface, facts_script, os_family, parse_facts

UBUNTU = """\
machine=x86_64
os_id=ubuntu
os_version=22.04
os_like=debian
hostname=reg1
cpus=4
mem_kb=16303132
disk_free_kb=104857600
iface=lo cidr=127.0.0.1/8
iface=eth0 cidr=192.168.10.11/24
iface=eth0 cidr=fd00:10::11/64
iface=docker0 cidr=172.17.0.1/16
iface=br-0a1b2c3d cidr=192.168.10.200/24
iface=veth12ab cidr=192.168.10.201/24
iface=eth1 cidr=10.20.0.5/16
iface=lo cidr=::1/128
"""


def test_parse_ubuntu_amd64() -> None:
    f = parse_facts(UBUNTU, "reg1")
    assert f.arch == "amd64"
    assert (f.os_id, f.os_version, f.os_family, f.hostname) == ("ubuntu", "22.04", "deb", "reg1")
    assert (f.cpus, f.mem_kb, f.disk_free_kb) == (4, 16303132, 104857600)
    assert f.mem_gb == pytest.approx(15.548, abs=0.01)
    assert f.disk_free_gb == 100.0
    assert f.interfaces[1] == Interface("eth0", "192.168.10.11/24")
    assert len(f.interfaces) == 8


def test_parse_rocky_arm64() -> None:
    text = "machine=aarch64\nos_id=rocky\nos_version=9.3\nos_like=rhel centos fedora\nhostname=r\n"
    f = parse_facts(text, "r")
    assert (f.arch, f.os_family) == ("arm64", "rpm")
    assert (f.cpus, f.mem_kb, f.disk_free_kb) == (0, 0, 0)  # missing numbers read as 0
    assert f.interfaces == ()


def test_unsupported_arch_names_the_host() -> None:
    with pytest.raises(KKError) as e:
        parse_facts(UBUNTU.replace("x86_64", "s390x"), "mainframe1")
    assert "host 'mainframe1' has unsupported architecture 's390x'" in str(e.value)
    assert "x86_64 (amd64) and aarch64 (arm64)" in str(e.value)


def test_output_without_machine_line() -> None:
    with pytest.raises(KKError, match="facts output from host 'h9' has no machine line: 'sh: 1: uname: not found'"):
        parse_facts("sh: 1: uname: not found", "h9")


def test_garbage_numbers_read_as_zero_and_noise_is_ignored() -> None:
    text = "Welcome to the host!\nmachine=x86_64\ncpus=many\nmem_kb=\n\n  disk_free_kb=42  \n"
    f = parse_facts(text)
    assert (f.cpus, f.mem_kb, f.disk_free_kb) == (0, 0, 42)
    assert (f.os_id, f.os_version, f.os_family) == ("unknown", "unknown", "unknown")


def test_odd_interface_lines_are_skipped() -> None:
    f = parse_facts("machine=x86_64\niface=eth0\niface=eth1 cidr=\niface=eth2 cidr=garbage\n"
                    "iface=eth3 cidr=10.0.0.3/24\n")
    assert f.interfaces == (Interface("eth3", "10.0.0.3/24"),)


def test_value_with_equals_sign() -> None:
    assert parse_facts("machine=arm64\nhostname=a=b\n").hostname == "a=b"


@pytest.mark.parametrize(("os_id", "like", "family"), [
    ("ubuntu", "debian", "deb"),
    ("debian", "", "deb"),
    ("linuxmint", "ubuntu debian", "deb"),
    ("kylin", "", "deb"),
    ("pop", "ubuntu debian", "deb"),
    ("centos", "rhel fedora", "rpm"),
    ("rhel", "fedora", "rpm"),
    ("rocky", "rhel centos fedora", "rpm"),
    ("almalinux", "rhel centos fedora", "rpm"),
    ("ol", "fedora", "rpm"),
    ("amzn", "centos rhel fedora", "rpm"),
    ("fedora", "", "rpm"),
    ("openeuler", "", "rpm"),
    ("opensuse-leap", "suse opensuse", "rpm"),
    ("sles", "suse", "rpm"),
    ("Ubuntu", "", "deb"),
    ("alpine", "", "unknown"),
    ("arch", "", "unknown"),
    ("unknown", "", "unknown"),
])
def test_os_family(os_id: str, like: str, family: str) -> None:
    assert os_family(os_id, like) == family


def facts_with(*ifaces: tuple[str, str]) -> Facts:
    return Facts("amd64", "ubuntu", "22.04", "deb", "h", 2, 0, 0, tuple(Interface(n, c) for n, c in ifaces))


def test_interface_for_vip() -> None:
    f = parse_facts(UBUNTU)
    i = f.interface_for("192.168.10.50")
    assert i is not None
    assert (i.name, i.cidr, i.address, str(i.network)) == ("eth0", "192.168.10.11/24", "192.168.10.11",
                                                            "192.168.10.0/24")
    assert f.interface_for("10.20.99.1") == Interface("eth1", "10.20.0.5/16")
    v6 = f.interface_for("fd00:10::50")
    assert v6 is not None and v6.name == "eth0" and v6.address == "fd00:10::11"


def test_interface_for_skips_docker_bridges_and_veths() -> None:
    # the VIP's subnet exists only on docker's own interfaces: no match
    f = facts_with(("docker0", "172.17.0.1/16"), ("br-1234", "10.9.0.1/24"), ("veth1", "10.8.0.1/24"),
                   ("lo", "127.0.0.1/8"))
    for vip in ("172.17.0.50", "10.9.0.50", "10.8.0.50", "127.0.0.50"):
        assert f.interface_for(vip) is None


def test_interface_for_prefers_real_interface_listed_after_a_bridge() -> None:
    f = facts_with(("br-abc", "192.168.10.1/24"), ("docker0", "192.168.10.2/24"), ("ens3", "192.168.10.11/24"))
    i = f.interface_for("192.168.10.50")
    assert i is not None and i.name == "ens3"


def test_interface_for_no_match() -> None:
    assert parse_facts(UBUNTU).interface_for("8.8.8.8") is None
    assert facts_with().interface_for("10.0.0.1") is None


def test_interface_for_versions_do_not_mix() -> None:
    f = facts_with(("eth0", "::/0"))
    assert f.interface_for("10.0.0.1") is None


def test_facts_script_quotes_the_data_dir() -> None:
    assert "d='/var/lib/it'\"'\"'s'" in facts_script("/var/lib/it's")
    assert "d='/var/lib'" in facts_script()


def test_facts_script_runs_and_parses_locally(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"  # free space is measured at the nearest existing parent
    out = subprocess.run(["sh", "-c", facts_script(str(data_dir))], capture_output=True, text=True, timeout=20,
                         check=True).stdout
    f = parse_facts(out, "local")
    machine = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout.strip()
    assert f.arch == {"x86_64": "amd64", "aarch64": "arm64"}[machine]
    assert f.cpus >= 1
    assert f.mem_kb > 0
    assert f.disk_free_kb > 0
    assert f.hostname
