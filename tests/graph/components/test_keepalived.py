"""keepalived under mocks: the VIP layer's rolling order, a VRID stable across runs, the VRRP auth secret never in
a command's text, and what a keepalived version bump touches."""

from __future__ import annotations

import re
from pathlib import Path

import mockkit
import pytest

from pulumi_kk.components.image_registry import ImageRegistry
from pulumi_kk.inventory import Host, Inventory
from pulumi_kk.render.keepalived import derive_vrid
from pulumi_kk.sources import Sources, load_sources

pytestmark = pytest.mark.usefixtures("fast_bcrypt")

ADDRESSES = {"n1": "10.0.0.11", "n2": "10.0.0.12", "n3": "10.0.0.13"}
VIP = "10.0.0.100"
HA = (f"image_registry.type=registry,image_registry.ha_vip={VIP},image_registry.registry.storage.s3.bucket=b,"
      "image_registry.registry.storage.s3.region=us-east-1")


@pytest.fixture
def ha_binary_dir(binary_dir: Path) -> Path:
    return mockkit.fake_binary_dir(binary_dir, {"registry": ["2.8.3"], "keepalived": ["2.2.7", "2.3.3"],
                                                "haproxy": ["2.6.12"]})


def sources(binary_dir: Path, *sets: str) -> Sources:
    inv = Inventory.from_hosts([Host(h, address=a, private_key="KEY") for h, a in ADDRESSES.items()])
    return load_sources(inv, sets=[f"binary_dir={binary_dir},keepalived_version=2.2.7,haproxy_version=2.6.12",
                                   HA, *sets])


def build(src: Sources) -> mockkit.Graph:
    return mockkit.run(lambda: ImageRegistry("reg", src.inventory, src.settings))


def host_of(name: str) -> str | None:
    m = re.match(r"^reg-(n\d)-", name)
    return m.group(1) if m else None


def cross_host(g: mockkit.Graph) -> set[tuple[str, str]]:
    return {(r.name, d) for r in g for d in g.deps(r.name) | g.deps(r.name, "explicit")
            if host_of(r.name) and host_of(d) and host_of(r.name) != host_of(d)}


def conf(g: mockkit.Graph, host: str) -> str:
    return str(g[f"reg-{host}-keepalived-service"].get("create"))


def test_services_roll_one_node_at_a_time(ha_binary_dir: Path) -> None:
    edges = cross_host(build(sources(ha_binary_dir)))
    for svc in ("registry-service", "keepalived-service"):
        assert (f"reg-n2-{svc}", f"reg-n1-{svc}") in edges and (f"reg-n3-{svc}", f"reg-n2-{svc}") in edges
    assert all(a.rsplit("-", 2)[-2:] == b.rsplit("-", 2)[-2:] for a, b in edges), edges  # only service → same service
    assert cross_host(build(sources(ha_binary_dir, "image_registry.rolling=false"))) == set()


def test_keepalived_waits_for_the_local_registry(ha_binary_dir: Path) -> None:
    g = build(sources(ha_binary_dir))
    for h in ADDRESSES:
        assert f"reg-{h}-registry-service" in g.deps(f"reg-{h}-keepalived-service")
        assert f"reg-{h}-keepalived-image" in g.deps(f"reg-{h}-keepalived-service")


def test_vrid_is_stable_and_derived(ha_binary_dir: Path) -> None:
    first, second = build(sources(ha_binary_dir)), build(sources(ha_binary_dir))
    want = derive_vrid("reg", VIP)
    assert want not in (31, 51)
    for h in ADDRESSES:
        assert f"virtual_router_id {want}" in conf(first, h)
    assert mockkit.diff(first, second) == {}
    priorities = {re.search(r"priority (\d+)", conf(first, h)).group(1) for h in ADDRESSES}  # type: ignore[union-attr]
    assert len(priorities) == 3  # distinct


def test_vrrp2_auth_secret_only_on_stdin(ha_binary_dir: Path) -> None:
    g = build(sources(ha_binary_dir, "image_registry.keepalived.vrrp_version=2,image_registry.keepalived.advert_int=1"))
    auth = mockkit.plain(g["reg-vrrp-auth"].outputs["value"])
    assert auth
    assert g.leaks([auth, auth[:8]], keys=mockkit.SCRIPT_KEYS, even_if_secret=True) == []
    for h in ADDRESSES:
        r = g[f"reg-{h}-keepalived-service"]
        assert r.is_secret("stdin") and "auth_pass" not in str(r.get("create"))


def test_keepalived_bump_touches_only_keepalived(ha_binary_dir: Path) -> None:
    before = build(sources(ha_binary_dir))
    after = build(sources(ha_binary_dir, "keepalived_version=2.3.3"))
    changed = set(mockkit.summary(mockkit.diff(before, after)))
    assert changed and all(re.search(r"-keepalived-(image|service)", n) for n in changed), changed


def test_active_active_adds_haproxy_before_keepalived(ha_binary_dir: Path) -> None:
    g = build(sources(ha_binary_dir, "image_registry.keepalived.active_active=true"))
    for h in ADDRESSES:
        assert f"reg-{h}-haproxy-service" in g.deps(f"reg-{h}-keepalived-service")
        assert f"reg-{h}-registry-service" in g.deps(f"reg-{h}-haproxy-service")
        # every node's haproxy spreads over every node's registry
        cfg = str(g[f"reg-{h}-haproxy-service"].get("create"))
        assert all(f"{a}:5000 check" in cfg for a in ADDRESSES.values()), cfg
