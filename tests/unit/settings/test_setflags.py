"""``--set``: the strings KubeKey users write, parsed and built into the typed settings."""

from __future__ import annotations

from typing import Any

import pytest

from pulumi_kk.errors import KKError
from pulumi_kk.settings import Layer, Settings, build, normalize, parse_set
from pulumi_kk.settings.setflags import nest, scalar

SEED = "harbor_version=v2.10.1,docker_version=24.0.7,dockercompose_version=v2.20.3"


def built(*sets: str) -> Settings:
    return build([Layer(parse_set(sets), "--set")])


def test_seed_string_as_written() -> None:
    assert parse_set([SEED]) == {"harbor_version": "v2.10.1", "docker_version": "24.0.7",
                                 "dockercompose_version": "v2.20.3"}
    s = built(SEED)
    assert (s.harbor_version, s.docker_version, s.dockercompose_version) == ("v2.10.1", "24.0.7", "v2.20.3")


def test_kubekey_docs_registry_command() -> None:
    # kk init registry ... from KubeKey's image-registry README, every --set as written
    sets = ["image_registry.type=docker-registry",
            "docker_registry_version=2.8.3,docker_version=24.0.7,dockercompose_version=v2.20.3",
            "artifact.artifact_url.docker_registry.amd64=docker-registry-2.8.3-linux.amd64.tgz"]
    s = built(*sets)
    assert s.image_registry.type == "registry"
    assert s.registry_version == "2.8.3"
    assert s.docker_version == "24.0.7"
    assert s.artifact.artifact_url == {"registry": {"amd64": "docker-registry-2.8.3-linux.amd64.tgz"}}


def test_repeated_set_later_wins_and_siblings_merge() -> None:
    got = parse_set(["docker_version=20.10.23,image_registry.auth.username=a",
                     "docker_version=24.0.7",
                     "image_registry.auth.password=p"])
    assert got == {"docker_version": "24.0.7", "image_registry": {"auth": {"username": "a", "password": "p"}}}


def test_same_key_twice_in_one_string_later_wins() -> None:
    assert parse_set(["zone=cn,zone="]) == {"zone": ""}


def test_dotted_keys_nest() -> None:
    assert parse_set(["image_registry.auth.plain_http=true"]) == {"image_registry": {"auth": {"plain_http": True}}}
    assert built("image_registry.auth.plain_http=true").image_registry.auth.plain_http is True


@pytest.mark.parametrize(("text", "expected"), [
    ("a=[x,y]", ["x", "y"]),
    ("a=[]", []),
    ("a=[ ]", []),
    ("a=[ x , y ]", ["x", "y"]),
    ("a=[1,2]", [1, 2]),
    ("a=[true,no]", [True, "no"]),
    ("a=[registry.local:5000,10.0.0.1:80]", ["registry.local:5000", "10.0.0.1:80"]),
])
def test_lists(text: str, expected: list[Any]) -> None:
    assert parse_set([text]) == {"a": expected}


def test_list_between_other_items() -> None:
    assert parse_set(["a=1,b=[x,y],c=2"]) == {"a": 1, "b": ["x", "y"], "c": 2}


def test_list_settings_build() -> None:
    s = built("docker.insecure_registries=[reg.local:5000,10.0.0.1]",
              "docker.registry_mirrors=[https://m1.example,https://m2.example]")
    assert s.docker.insecure_registries == ["reg.local:5000", "10.0.0.1"]
    assert s.docker.registry_mirrors == ["https://m1.example", "https://m2.example"]


def test_a_single_value_for_a_list_setting() -> None:
    assert built("docker.insecure_registries=reg.local:5000").docker.insecure_registries == ["reg.local:5000"]


@pytest.mark.parametrize(("raw", "value"), [
    ("true", True), ("false", False), ("TRUE", True), ("False", False),
    ("42", 42), ("-3", -3), ("+7", 7), ("0", 0),
    ("2.10", "2.10"), ("v2.10.1", "v2.10.1"), ("24.0.7", "24.0.7"), ("1e5", "1e5"),
    ("007", "007"),  # leading zero: text, not 7
    ("null", None), ("~", None),
    ("'true'", "true"), ('"42"', "42"),
    ("", ""), ("yes", "yes"),
])
def test_typed_scalars(raw: str, value: object) -> None:
    assert scalar(raw) == value
    assert type(scalar(raw)) is type(value)


def test_two_ten_stays_a_string_through_the_model() -> None:
    assert built("harbor_version=2.10").harbor_version == "2.10"
    assert built("registry_version=2.8").registry_version == "2.8"


def test_typed_scalars_reach_typed_fields() -> None:
    s = built("precheck.min_cpus=4,precheck.as_warnings=true,image_registry.keepalived.vrid=77,"
              "image_registry.keepalived.advert_int=2")
    assert s.precheck.min_cpus == 4
    assert s.precheck.as_warnings is True
    assert s.image_registry.keepalived.vrid == 77
    assert s.image_registry.keepalived.advert_int == 2.0


def test_value_may_contain_equals_sign() -> None:
    assert parse_set(["docker.log_opts.labels=a=b"]) == {"docker": {"log_opts": {"labels": "a=b"}}}


def test_whitespace_is_trimmed() -> None:
    assert parse_set([" zone = cn , docker_version = 24.0.7 "]) == {"zone": "cn", "docker_version": "24.0.7"}


def test_artifact_url_per_arch() -> None:
    url = "https://mirror.example/keepalived-2.3.4-linux-amd64.tgz"
    assert parse_set([f"artifact.artifact_url.keepalived.amd64={url}"]) == {
        "artifact": {"artifact_url": {"keepalived": {"amd64": url}}}}
    assert built(f"artifact.artifact_url.keepalived.amd64={url}").artifact.artifact_url == {
        "keepalived": {"amd64": url}}


def test_s3_bucket() -> None:
    s = built("image_registry.type=registry,image_registry.registry.storage.s3.bucket=images,"
              "image_registry.registry.storage.s3.region=eu-west-1")
    assert s.image_registry.registry.storage.s3.bucket == "images"
    assert s.image_registry.registry.storage.s3.region == "eu-west-1"
    assert s.image_registry.registry.storage.driver == "s3"


# --- KubeKey aliases ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["docker-registry", "docker_registry", "registry"])
def test_registry_type_aliases(value: str) -> None:
    assert built(f"image_registry.type={value}").image_registry.type == "registry"


@pytest.mark.parametrize("key", ["docker_registry_version", "image_registry.docker_registry_version",
                                 "image_registry.registry_version", "registry_version"])
def test_registry_version_aliases(key: str) -> None:
    assert built(f"{key}=2.8.1").registry_version == "2.8.1"


@pytest.mark.parametrize(("key", "attr"), [
    ("cri.docker_version", "docker_version"),
    ("image_registry.harbor_version", "harbor_version"),
    ("image_registry.dockercompose_version", "dockercompose_version"),
    ("image_registry.keepalived_version", "keepalived_version"),
])
def test_version_aliases(key: str, attr: str) -> None:
    assert getattr(built(f"{key}=9.9.9"), attr) == "9.9.9"


def test_docker_registry_storage_alias() -> None:
    s = built("image_registry.docker_registry.storage.s3.bucket=b1,"
              "image_registry.docker_registry.storage.s3.regionendpoint=http://minio:9000")
    assert s.image_registry.registry.storage.s3.bucket == "b1"
    assert s.image_registry.registry.storage.s3.regionendpoint == "http://minio:9000"


def test_docker_registry_filesystem_alias() -> None:
    s = built("image_registry.docker_registry.storage.filesystem.rootdir=/data/registry")
    assert s.image_registry.registry.storage.filesystem.rootdir == "/data/registry"


def test_cri_docker_alias() -> None:
    s = built("cri.docker.data_root=/data/docker,cri.docker_version=25.0.5")
    assert s.docker.data_root == "/data/docker"
    assert s.docker_version == "25.0.5"


def test_download_artifact_url_alias() -> None:
    s = built("download.artifact_url.docker_compose.arm64=/srv/compose")
    assert s.artifact.artifact_url == {"dockercompose": {"arm64": "/srv/compose"}}


@pytest.mark.parametrize("name", ["docker_registry", "docker-registry"])
def test_artifact_name_aliases_in_sha256(name: str) -> None:
    s = built(f"artifact.sha256.{name}.amd64=abc")
    assert s.artifact.sha256 == {"registry": {"amd64": "abc"}}


def test_canonical_key_wins_over_alias_in_one_source() -> None:
    s = built("docker_registry_version=2.7.0,registry_version=2.8.3")
    assert s.registry_version == "2.8.3"
    s = built("registry_version=2.8.3,docker_registry_version=2.7.0")
    assert s.registry_version == "2.8.3"


def test_alias_in_a_later_source_overrides_canonical_in_an_earlier_one() -> None:
    s = build([Layer({"registry_version": "2.7.0"}, "inv", strict=False),
               Layer(parse_set(["docker_registry_version=2.8.3"]), "--set")])
    assert s.registry_version == "2.8.3"


def test_normalize_leaves_no_empty_alias_parents() -> None:
    assert normalize({"cri": {"docker_version": "1.2.3"}}) == {"docker_version": "1.2.3"}
    assert normalize({"download": {"artifact_url": {"docker": {"amd64": "x"}}}}) == {
        "artifact": {"artifact_url": {"docker": {"amd64": "x"}}}}
    # other keys of the parent stay
    assert normalize({"cri": {"docker_version": "1.2.3", "container_manager": "docker"}}) == {
        "cri": {"container_manager": "docker"}, "docker_version": "1.2.3"}


def test_normalize_does_not_touch_its_input() -> None:
    raw: dict[str, Any] = {"image_registry": {"type": "docker-registry", "docker_registry": {"port": 5000}}}
    out = normalize(raw)
    assert raw == {"image_registry": {"type": "docker-registry", "docker_registry": {"port": 5000}}}
    assert out == {"image_registry": {"type": "registry", "registry": {"port": 5000}}}


def test_nest() -> None:
    assert nest("a.b.c", 1) == {"a": {"b": {"c": 1}}}
    assert nest("a", [1]) == {"a": [1]}


def test_empty_set_list() -> None:
    assert parse_set([]) == {}


@pytest.mark.parametrize(("text", "message"), [
    ("harbor_version", "'harbor_version' has no '='"),
    ("harbor version=1", "'harbor version' is not a valid key"),
    ("=1", "'' is not a valid key"),
    ("a..b=1", "'a..b' is not a valid key"),
    (".a=1", "'.a' is not a valid key"),
    ("a=[b,c", "unbalanced '['"),
    ("a=b]", "unbalanced ']'"),
    ("a=1,,b=2", "empty item"),
    ("a=1,", "empty item"),
    ("a=[x,,y]", "empty list item in 'a=[x,,y]'"),
    ("a=[x,]", "empty list item"),
])
def test_malformed(text: str, message: str) -> None:
    with pytest.raises(KKError) as e:
        parse_set([text])
    assert message in str(e.value)
    assert str(e.value).startswith("--set: ")
    assert "Fix: " in str(e.value)


def test_malformed_names_custom_source() -> None:
    with pytest.raises(KKError, match=r"^pulumi-kk:set: "):
        parse_set(["oops"], source="pulumi-kk:set")
