"""Artifact resolution: the KubeKey binary_dir layout, artifact_url overrides, upstream fallback, sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from pulumi_kk.artifacts import ARTIFACTS, artifacts_for, check_arch, resolve, sha256_file
from pulumi_kk.errors import KKError
from pulumi_kk.settings import Layer, Settings, build, deep_merge, parse_set

VERSIONS = {"docker_version": "24.0.7", "dockercompose_version": "v2.20.3", "harbor_version": "v2.10.2",
            "registry_version": "2.8.3", "keepalived_version": "2.3.4"}


def settings(bdir: Path, *sets: str, **extra: Any) -> Settings:
    values = deep_merge({"binary_dir": str(bdir), "remote_dir": "/opt/kk", **VERSIONS}, extra)
    layers = [Layer(values, "test")]
    if sets:
        layers.append(Layer(parse_set(sets), "--set"))
    return build(layers)


def put(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


LAYOUT = [
    ("docker", "docker/24.0.7/{arch}/docker-24.0.7.tgz"),
    ("dockercompose", "image-registry/docker-compose/v2.20.3/{arch}/docker-compose"),
    ("harbor", "image-registry/harbor/v2.10.2/{arch}/harbor-offline-installer-v2.10.2.tgz"),
    ("registry", "image-registry/registry/2.8.3/{arch}/registry-2.8.3-linux-{arch}.tgz"),
    ("keepalived", "image-registry/keepalived/2.3.4/{arch}/keepalived-2.3.4-linux-{arch}.tgz"),
]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize(("name", "rel"), LAYOUT, ids=[n for n, _ in LAYOUT])
def test_binary_dir_layout(tmp_path: Path, name: str, rel: str, arch: str) -> None:
    content = f"{name}-{arch}".encode()
    f = put(tmp_path / rel.format(arch=arch), content)
    a = resolve(name, settings(tmp_path), arch)

    assert a.source == "binary_dir"
    assert a.is_local
    assert a.path == str(f)
    assert a.url is None
    assert a.sha256 == hashlib.sha256(content).hexdigest()
    assert a.size == len(content)
    assert a.arch == arch
    assert a.version == {"docker": "24.0.7", "dockercompose": "v2.20.3", "harbor": "v2.10.2", "registry": "2.8.3",
                         "keepalived": "2.3.4"}[name]
    assert a.remote_path == f"/opt/kk/artifacts/{name}/{a.version}/{arch}/{f.name}"
    assert a.as_dict()["sha256"] == a.sha256


def test_other_arch_file_is_not_used(tmp_path: Path) -> None:
    put(tmp_path / "docker/24.0.7/arm64/docker-24.0.7.tgz", b"arm")
    a = resolve("docker", settings(tmp_path), "amd64")
    assert a.source == "url"


def test_image_artifacts_name_the_image(tmp_path: Path) -> None:
    put(tmp_path / "image-registry/keepalived/2.3.4/amd64/keepalived-2.3.4-linux-amd64.tgz", b"k")
    assert resolve("keepalived", settings(tmp_path), "amd64").image == "osixia/keepalived:2.3.4"
    assert resolve("registry", settings(tmp_path), "amd64").image == "registry:2.8.3"
    assert resolve("docker", settings(tmp_path), "amd64").image == ""


def test_kubekey_docker_registry_name_is_accepted(tmp_path: Path) -> None:
    # KubeKey's docs: docker save -o docker-registry-<v>-linux-<arch>.tgz into image-registry/docker-registry/<v>/<arch>/
    f = put(tmp_path / "image-registry/docker-registry/2.8.3/arm64/docker-registry-2.8.3-linux-arm64.tgz", b"reg")
    a = resolve("registry", settings(tmp_path), "arm64")
    assert a.source == "binary_dir"
    assert a.path == str(f)
    assert a.remote_path == "/opt/kk/artifacts/registry/2.8.3/arm64/docker-registry-2.8.3-linux-arm64.tgz"


def test_canonical_name_preferred_over_alternate(tmp_path: Path) -> None:
    canon = put(tmp_path / "image-registry/registry/2.8.3/amd64/registry-2.8.3-linux-amd64.tgz", b"a")
    put(tmp_path / "image-registry/docker-registry/2.8.3/amd64/docker-registry-2.8.3-linux-amd64.tgz", b"b")
    assert resolve("registry", settings(tmp_path), "amd64").path == str(canon)


def test_binary_dir_defaults_under_work_dir(tmp_path: Path) -> None:
    f = put(tmp_path / "wd/kubekey/docker/24.0.7/amd64/docker-24.0.7.tgz", b"d")
    s = build([Layer({"work_dir": str(tmp_path / "wd")}, "x")])
    assert resolve("docker", s, "amd64").path == str(f)


# --- artifact_url ------------------------------------------------------------------------------------------------


def test_artifact_url_relative_to_cwd(tmp_path: Path) -> None:
    # the KubeKey docs' own example: a bare file name
    f = put(tmp_path / "work/docker-registry-2.8.3-linux.amd64.tgz", b"img")
    s = settings(tmp_path / "bd", "artifact.artifact_url.docker_registry.amd64=docker-registry-2.8.3-linux.amd64.tgz")
    a = resolve("registry", s, "amd64", cwd=tmp_path / "work")
    assert a.source == "artifact_url"
    assert a.path == str(f)
    assert a.sha256 == hashlib.sha256(b"img").hexdigest()
    assert a.remote_path == "/opt/kk/artifacts/registry/2.8.3/amd64/docker-registry-2.8.3-linux.amd64.tgz"


def test_artifact_url_relative_to_process_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path / "files/compose", b"c")
    monkeypatch.chdir(tmp_path)
    a = resolve("dockercompose", settings(tmp_path / "bd", "artifact.artifact_url.dockercompose.amd64=files/compose"),
                "amd64")
    assert a.path == str(tmp_path / "files/compose")


def test_artifact_url_relative_to_binary_dir(tmp_path: Path) -> None:
    f = put(tmp_path / "bd/extra/docker.tgz", b"d")
    s = settings(tmp_path / "bd", "artifact.artifact_url.docker.amd64=extra/docker.tgz")
    a = resolve("docker", s, "amd64", cwd=tmp_path / "elsewhere")
    assert a.source == "artifact_url"
    assert a.path == str(f)


def test_artifact_url_absolute_path(tmp_path: Path) -> None:
    f = put(tmp_path / "abs/harbor.tgz", b"h")
    a = resolve("harbor", settings(tmp_path / "bd", f"artifact.artifact_url.harbor.arm64={f}"), "arm64")
    assert (a.source, a.path, a.size) == ("artifact_url", str(f), 1)
    assert a.remote_path == "/opt/kk/artifacts/harbor/v2.10.2/arm64/harbor.tgz"


def test_artifact_url_wins_over_binary_dir(tmp_path: Path) -> None:
    put(tmp_path / "bd/docker/24.0.7/amd64/docker-24.0.7.tgz", b"layout")
    f = put(tmp_path / "mine.tgz", b"mine")
    a = resolve("docker", settings(tmp_path / "bd", f"artifact.artifact_url.docker.amd64={f}"), "amd64")
    assert a.path == str(f)


def test_artifact_url_only_for_its_arch(tmp_path: Path) -> None:
    f = put(tmp_path / "mine.tgz", b"mine")
    s = settings(tmp_path / "bd", f"artifact.artifact_url.docker.arm64={f}")
    assert resolve("docker", s, "amd64").source == "url"
    assert resolve("docker", s, "arm64").path == str(f)


@pytest.mark.parametrize("url", ["https://mirror.example/k/keepalived-2.3.4-linux-amd64.tgz",
                                 "http://10.0.0.5:8080/keepalived-2.3.4-linux-amd64.tgz/"])
def test_artifact_url_as_url(tmp_path: Path, url: str) -> None:
    s = settings(tmp_path, f"artifact.artifact_url.keepalived.amd64={url}",
                 f"artifact.sha256.keepalived.amd64={'a' * 64}")
    a = resolve("keepalived", s, "amd64")
    assert a.source == "url"
    assert not a.is_local
    assert a.url == url
    assert a.path is None
    assert a.sha256 == "a" * 64  # checked by the host after download
    assert a.image == "osixia/keepalived:2.3.4"
    assert a.remote_path == "/opt/kk/artifacts/keepalived/2.3.4/amd64/keepalived-2.3.4-linux-amd64.tgz"


def test_artifact_url_file_missing(tmp_path: Path) -> None:
    s = settings(tmp_path / "bd", "artifact.artifact_url.docker.amd64=nope.tgz")
    with pytest.raises(KKError) as e:
        resolve("docker", s, "amd64", cwd=tmp_path)
    msg = str(e.value)
    assert msg.startswith("artifact.artifact_url.docker.amd64: artifact file 'nope.tgz' not found")
    assert str(tmp_path / "nope.tgz") in msg and str(tmp_path / "bd/nope.tgz") in msg
    assert "Fix: give an existing path" in msg


def test_artifact_url_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(KKError, match="not found"):
        resolve("docker", settings(tmp_path, f"artifact.artifact_url.docker.amd64={tmp_path / 'adir'}"), "amd64")


# --- upstream ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arch", "url"), [
    ("docker", "amd64", "https://download.docker.com/linux/static/stable/x86_64/docker-24.0.7.tgz"),
    ("docker", "arm64", "https://download.docker.com/linux/static/stable/aarch64/docker-24.0.7.tgz"),
    ("dockercompose", "amd64",
     "https://github.com/docker/compose/releases/download/v2.20.3/docker-compose-linux-x86_64"),
    ("dockercompose", "arm64",
     "https://github.com/docker/compose/releases/download/v2.20.3/docker-compose-linux-aarch64"),
    ("harbor", "amd64",
     "https://github.com/goharbor/harbor/releases/download/v2.10.2/harbor-offline-installer-v2.10.2.tgz"),
    ("harbor", "arm64",
     "https://github.com/kubesphere/kubekey/releases/download/iso-latest/harbor-offline-installer-v2.10.2.tgz"),
])
def test_upstream_fallback(tmp_path: Path, name: str, arch: str, url: str) -> None:
    a = resolve(name, settings(tmp_path), arch)
    assert (a.source, a.url, a.path, a.sha256, a.size) == ("url", url, None, None, None)
    assert a.remote_path == f"/opt/kk/artifacts/{name}/{a.version}/{arch}/{url.rsplit('/', 1)[-1]}"


def test_upstream_download_carries_expected_sha256(tmp_path: Path) -> None:
    a = resolve("docker", settings(tmp_path, f"artifact.sha256.docker.amd64={'b' * 64}"), "amd64")
    assert a.sha256 == "b" * 64


@pytest.mark.parametrize(("name", "image"), [("registry", "registry:2.8.3"),
                                             ("keepalived", "osixia/keepalived:2.3.4")])
def test_images_without_tarball_are_pulled(tmp_path: Path, name: str, image: str) -> None:
    a = resolve(name, settings(tmp_path), "arm64")
    assert (a.source, a.image, a.path, a.url, a.remote_path) == ("pull", image, None, None, "")
    assert a.as_dict()["image"] == image


# --- offline -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arch", "instructions"), [
    ("docker", "amd64", "download docker-24.0.7.tgz from https://download.docker.com/linux/static/stable/"),
    ("dockercompose", "arm64", "download docker-compose-linux-<arch> of v2.20.3"),
    ("harbor", "amd64", "download harbor-offline-installer-v2.10.2.tgz"),
    ("registry", "arm64", "docker pull --platform linux/arm64 registry:2.8.3 && docker save registry:2.8.3 | gzip >"),
    ("keepalived", "amd64", "docker pull --platform linux/amd64 osixia/keepalived:2.3.4 && docker save"),
])
def test_offline_without_file_is_an_error_with_packaging_steps(tmp_path: Path, name: str, arch: str,
                                                                instructions: str) -> None:
    s = settings(tmp_path, "artifact.online=false")
    with pytest.raises(KKError) as e:
        resolve(name, s, arch)
    msg = str(e.value)
    kind = ARTIFACTS[name]
    canonical = tmp_path / kind.paths[0].format(v=getattr(s, kind.version_key), arch=arch)
    assert msg.startswith(f"{kind.version_key}: no {name} ")
    assert f"artifact for {arch}: {canonical} is missing and online download is off" in msg
    assert instructions in msg
    assert f"place it at {canonical}" in msg or f"gzip > {canonical}" in msg
    assert f"or set artifact.artifact_url.{name}.{arch}" in msg


def test_offline_with_file_is_fine(tmp_path: Path) -> None:
    put(tmp_path / "docker/24.0.7/amd64/docker-24.0.7.tgz", b"d")
    assert resolve("docker", settings(tmp_path, "artifact.online=false"), "amd64").source == "binary_dir"


def test_offline_with_url_override_is_fine(tmp_path: Path) -> None:
    s = settings(tmp_path, "artifact.online=false", "artifact.artifact_url.docker.amd64=https://m.example/d.tgz")
    assert resolve("docker", s, "amd64").url == "https://m.example/d.tgz"


# --- sha256 ------------------------------------------------------------------------------------------------------


def test_expected_sha256_matches(tmp_path: Path) -> None:
    content = b"docker tarball"
    digest = hashlib.sha256(content).hexdigest()
    put(tmp_path / "docker/24.0.7/amd64/docker-24.0.7.tgz", content)
    a = resolve("docker", settings(tmp_path, f"artifact.sha256.docker.amd64={digest.upper()}"), "amd64")
    assert a.sha256 == digest


def test_wrong_sha256_is_an_error(tmp_path: Path) -> None:
    f = put(tmp_path / "image-registry/docker-compose/v2.20.3/arm64/docker-compose", b"compose")
    actual = hashlib.sha256(b"compose").hexdigest()
    s = settings(tmp_path, f"artifact.sha256.docker_compose.arm64={'0' * 64}")
    with pytest.raises(KKError) as e:
        resolve("dockercompose", s, "arm64")
    msg = str(e.value)
    assert msg.startswith("artifact.sha256.dockercompose.arm64: checksum mismatch for ")
    assert str(f) in msg and actual in msg and "0" * 64 in msg
    assert "Fix: replace the file with the right one, or correct artifact.sha256.dockercompose.arm64." in msg


def test_wrong_sha256_on_artifact_url_file(tmp_path: Path) -> None:
    f = put(tmp_path / "x.tgz", b"x")
    s = settings(tmp_path, f"artifact.artifact_url.harbor.amd64={f}", "artifact.sha256.harbor.amd64=deadbeef")
    with pytest.raises(KKError, match="checksum mismatch"):
        resolve("harbor", s, "amd64")


def test_sha256_file_and_cache(tmp_path: Path) -> None:
    f = put(tmp_path / "f", b"one")
    assert sha256_file(f) == hashlib.sha256(b"one").hexdigest()
    assert sha256_file(str(f)) == hashlib.sha256(b"one").hexdigest()
    f.write_bytes(b"second")
    os.utime(f, ns=(1, 1))
    assert sha256_file(f) == hashlib.sha256(b"second").hexdigest()


def test_sha256_of_a_large_file(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    f = put(tmp_path / "big", data)
    assert sha256_file(f) == hashlib.sha256(data).hexdigest()


# --- arch --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("machine", "arch"), [("x86_64", "amd64"), ("amd64", "amd64"), ("aarch64", "arm64"),
                                               ("arm64", "arm64")])
def test_check_arch(machine: str, arch: str) -> None:
    assert check_arch(machine, "h") == arch


@pytest.mark.parametrize("machine", ["s390x", "ppc64le", "armv7l", "i686", "riscv64", ""])
def test_check_arch_rejects(machine: str) -> None:
    with pytest.raises(KKError) as e:
        check_arch(machine, "node7")
    assert f"host 'node7' has unsupported architecture {machine!r}" in str(e.value)
    assert "Fix: pulumi_kk supports x86_64 (amd64) and aarch64 (arm64) hosts." in str(e.value)


def test_artifacts_for(tmp_path: Path) -> None:
    put(tmp_path / "docker/24.0.7/arm64/docker-24.0.7.tgz", b"d")
    got = artifacts_for(settings(tmp_path), "arm64", ["docker", "dockercompose", "registry"])
    assert {n: a.source for n, a in got.items()} == {"docker": "binary_dir", "dockercompose": "url",
                                                      "registry": "pull"}
