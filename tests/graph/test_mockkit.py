"""mockkit itself, on tiny programs: what it records must be what the engine would get."""

from __future__ import annotations

import mockkit
import pulumi
import pytest
from pulumi_command import remote

CONN = remote.ConnectionArgs(host="10.0.0.9", user="root")


def conn(password: str = "pw-mockkit-1") -> remote.ConnectionArgs:
    return remote.ConnectionArgs(host="10.0.0.9", user="root", password=pulumi.Output.secret(password))


class Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Box", name, None, opts)
        self.inner = remote.Command(f"{name}-inner", connection=CONN, create="true",
                                    opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def test_secrets_are_kept_where_they_were() -> None:
    def prog() -> None:
        remote.Command("c", connection=conn(), create="echo hi", stdin=pulumi.Output.secret("data"))

    c = mockkit.run(prog)["c"]
    assert c.is_secret("stdin") and not c.is_secret("create")
    assert c.inputs["stdin"] == mockkit.Secret("data")
    # pulumi_command wraps the whole connection; the constructor spy still sees what the caller marked.
    assert c.is_secret("connection.host") and isinstance(c.inputs["connection"], mockkit.Secret)
    assert c.arg_is_secret("connection.password") and not c.arg_is_secret("connection.host")
    assert c.get("connection.password") == "pw-mockkit-1"
    assert c.secret_paths() >= {"stdin", "connection.password", "connection.host"}


def test_explicit_property_and_component_dependencies() -> None:
    def prog() -> None:
        a = remote.Command("a", connection=CONN, create="echo a")
        remote.Command("b", connection=CONN, create="echo b", opts=pulumi.ResourceOptions(depends_on=[a]))
        remote.Command("c", connection=CONN, create=a.stdout.apply(lambda s: f"echo {s}"))
        box = Box("box")
        remote.Command("d", connection=CONN, create="echo d", opts=pulumi.ResourceOptions(depends_on=[box]))

    g = mockkit.run(prog)
    assert g.deps("b", "explicit") == {"a"} and g.deps("b", "property") == set()
    assert g.deps("c", "explicit") == set() and g.deps("c", "property") == {"a"} and g.deps("c") == {"a"}
    assert g.deps("d", "explicit") == {"box"}  # as written
    assert g.deps("d") == {"box-inner"}  # what the engine orders by: the component's children
    assert g.reaches("d", "box-inner") and not g.reaches("a", "c")
    assert [r.name for r in g.children("box")] == ["box-inner"]
    assert g.parent_of("box-inner") == g["box"]


def test_options() -> None:
    def prog() -> None:
        remote.Command("c", connection=CONN, create="x", opts=pulumi.ResourceOptions(
            delete_before_replace=True, additional_secret_outputs=["stdout"], protect=True))

    c = mockkit.run(prog)["c"]
    assert c.delete_before_replace and c.protect
    assert set(c.additional_secret_outputs) == {"stdout", "connection"}
    assert c.replace_on_changes == ("triggers[*]",)


@pytest.mark.parametrize("engine_secrets", [True, False])
def test_additional_secret_outputs_flow_on_as_secrets(engine_secrets: bool) -> None:
    def prog() -> None:
        a = remote.Command("a", connection=CONN, create="x",
                           opts=pulumi.ResourceOptions(additional_secret_outputs=["stdout"]))
        remote.Command("b", connection=CONN, create=a.stdout.apply(lambda s: f"echo {s}"))

    g = mockkit.run(prog, engine_secrets=engine_secrets)
    assert g["b"].is_secret("create") is engine_secrets  # plain MockMonitor loses what the engine would add


def test_program_errors_are_raised_and_the_partial_graph_kept() -> None:
    def prog() -> None:
        remote.Command("ok", connection=CONN, create="true")
        raise RuntimeError("boom")

    rec = mockkit.Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        rec.run(prog)
    assert isinstance(rec.graph, mockkit.Graph)


def test_apply_errors_are_raised() -> None:
    def prog() -> None:
        remote.Command("bad", connection=CONN, create=pulumi.Output.from_input(0).apply(lambda n: str(1 // n)))

    with pytest.raises(Exception, match="division"):
        mockkit.run(prog)


def test_facts_mock_answers_per_address() -> None:
    def prog() -> None:
        remote.Command("f", connection=CONN, create='echo "machine=$(uname -m)"')

    g = mockkit.run(prog, mocks=mockkit.KKMocks(facts={"10.0.0.9": {"machine": "aarch64"}}))
    out = mockkit.plain(g["f"].outputs["stdout"])
    assert "machine=aarch64" in out and "iface=eth0 cidr=10.0.0.9/24" in out


def test_diff_ops() -> None:
    def prog(create: str, trigger: str, secret: bool, extra: bool) -> None:
        remote.Command("upd", connection=CONN, create=create)
        remote.Command("rep", connection=CONN, create="x", triggers=[trigger])
        remote.Command("sec", connection=CONN, create="x",
                       stdin=pulumi.Output.secret("s") if secret else "s")
        remote.Command("same", connection=CONN, create="x")
        if extra:
            remote.Command("extra", connection=CONN, create="x")

    before = mockkit.run(lambda: prog("a", "t1", False, True))
    after = mockkit.run(lambda: prog("b", "t2", True, False))
    changes = mockkit.diff(before, after)
    assert mockkit.summary(changes) == {"upd": "update", "rep": "replace", "sec": "update", "extra": "delete"}
    assert changes["rep"].replace_keys == ("triggers",) and changes["upd"].keys == ("create",)
    assert mockkit.summary(mockkit.diff(after, before))["extra"] == "create"


def test_leaks() -> None:
    def prog() -> None:
        remote.Command("bad", connection=conn("hunter2-secret"), create="echo hunter2-secret")
        remote.Command("hidden", connection=CONN, create=pulumi.Output.secret("echo hunter2-secret"))

    g = mockkit.run(prog)
    assert [(x.resource, x.path) for x in g.leaks(["hunter2-secret"])] == [("bad", "create")]
    assert {(x.resource, x.path) for x in g.leaks(["hunter2-secret"], keys=mockkit.SCRIPT_KEYS,
                                                  even_if_secret=True)} == {("bad", "create"), ("hidden", "create")}


def test_config_is_set_for_the_run_only() -> None:
    seen: list[str | None] = []
    mockkit.run(lambda: seen.append(pulumi.Config("t").get("k")), config={"t:k": "v"})
    mockkit.run(lambda: seen.append(pulumi.Config("t").get("k")))
    assert seen == ["v", None]
