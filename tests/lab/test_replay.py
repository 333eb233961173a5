"""The replay executor on real lab hosts: pulumi-command semantics, state between applies, failures, parallelism."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from pulumi_command import local, remote

from .hosts import LabHost, LabRun
from .replay import Replay, ReplayError

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def hosts(lab_run: LabRun, lab_host_image: str) -> Iterator[list[LabHost]]:
    """Two hosts shared by this module (each test works in its own directory)."""
    hs = lab_run.start_hosts(2, image=lab_host_image, name="replay")
    yield hs
    lab_run.remove_hosts(hs)


@pytest.fixture
def work(hosts: list[LabHost]) -> str:
    """A fresh directory on both hosts."""
    d = f"/tmp/replay-{uuid.uuid4().hex[:8]}"
    for h in hosts:
        h.sh(f"mkdir -p {d}")
    return d


def conn(h: LabHost, *, use_password: bool = False, **kw: object) -> remote.ConnectionArgs:
    return remote.ConnectionArgs(**h.connection(use_password=use_password, **kw))


def test_stdout_flows_into_later_resource_and_stdin(hosts: list[LabHost], replay: Replay) -> None:
    h = hosts[0]

    def program() -> dict[str, pulumi.Output[str]]:
        a = remote.Command("name", connection=conn(h), create="hostname")
        b = remote.Command("greet", connection=conn(h), create=a.stdout.apply(lambda s: f"echo hello-{s}"))
        c = remote.Command("cat", connection=conn(h), create="tr a-z A-Z", stdin="from stdin\n")
        return {"greet": b.stdout, "cat": c.stdout}

    r1 = replay.apply(program)
    print(r1.summary())
    assert r1.result == {"greet": f"hello-{h.name}", "cat": "FROM STDIN"}  # trailing newline trimmed
    assert r1.counts["created"] == 3
    assert r1.by_name("greet").ran[0].command == f"echo hello-{h.name}"

    r2 = replay.apply(program)
    assert r2.counts["unchanged"] == 3 and r2.commands_run == 0
    assert r2.result == r1.result  # stored outputs flow again without running anything


def test_copy_to_remote_creates_parents_and_second_apply_copies_nothing(
    hosts: list[LabHost], replay: Replay, work: str, tmp_path: Path
) -> None:
    h = hosts[0]
    f = tmp_path / "file.txt"
    f.write_text("file-asset\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A")
    (tree / "sub" / "b.txt").write_text("B" * 1000)
    text = {"v": "text-v1\n"}

    def program() -> None:
        remote.CopyToRemote("file", connection=conn(h), source=pulumi.FileAsset(str(f)),
                            remote_path=f"{work}/deep/er/file.txt")  # fmt: skip
        remote.CopyToRemote("tree", connection=conn(h), source=pulumi.FileArchive(str(tree)),
                            remote_path=f"{work}/trees")  # fmt: skip
        remote.CopyToRemote("text", connection=conn(h), source=pulumi.StringAsset(text["v"]),
                            remote_path=f"{work}/etc/lab/x.conf")  # fmt: skip

    r1 = replay.apply(program)
    print(r1.summary())
    assert r1.counts["created"] == 3
    assert r1.bytes_copied == len("file-asset\n") + 1 + 1000 + len("text-v1\n")
    assert h.sh(f"cat {work}/deep/er/file.txt") == "file-asset"
    assert h.sh(f"cat {work}/trees/tree/a.txt; wc -c < {work}/trees/tree/sub/b.txt") == "A1000"
    assert h.sh(f"cat {work}/etc/lab/x.conf") == "text-v1"

    r2 = replay.apply(program)
    assert r2.bytes_copied == 0 and r2.counts["unchanged"] == 3

    text["v"] = "text-v2\n"
    r3 = replay.apply(program)
    assert r3.counts["updated"] == 1 and r3.bytes_copied == len("text-v2\n")
    assert h.sh(f"cat {work}/etc/lab/x.conf") == "text-v2"


def test_triggers_replace_delete_before_replace_vs_create_before_delete(
    hosts: list[LabHost], replay: Replay, work: str
) -> None:
    h = hosts[0]
    trig = {"v": 1}

    def program() -> None:
        v = trig["v"]
        for name, dbr in (("dbr", True), ("cbd", False)):
            remote.Command(
                name,
                connection=conn(h),
                create=f"echo create-{v} >> {work}/{name}.log",
                delete=f"echo delete-{v} >> {work}/{name}.log",
                triggers=[v],
                opts=pulumi.ResourceOptions(delete_before_replace=dbr),
            )

    replay.apply(program)
    trig["v"] = 2
    r = replay.apply(program)
    print(r.summary())
    assert r.counts["replaced"] == 2
    assert h.sh(f"cat {work}/dbr.log").split() == ["create-1", "delete-1", "create-2"]
    assert h.sh(f"cat {work}/cbd.log").split() == ["create-1", "create-2", "delete-1"]
    # the old resource's delete ran with its stored command
    dels = [x.command for res in r.resources.values() for x in res.ran if x.action == "delete"]
    assert sorted(dels) == sorted([f"echo delete-1 >> {work}/dbr.log", f"echo delete-1 >> {work}/cbd.log"])


def test_update_runs_update_else_create(hosts: list[LabHost], replay: Replay, work: str) -> None:
    h = hosts[0]
    ver = {"v": 1}

    def program() -> None:
        v = ver["v"]
        remote.Command("with-update", connection=conn(h), create=f"echo create-{v} >> {work}/u.log",
                       update=f"echo update-{v} >> {work}/u.log")  # fmt: skip
        remote.Command("create-only", connection=conn(h), create=f"echo create-{v} >> {work}/c.log")

    replay.apply(program)
    ver["v"] = 2
    r = replay.apply(program)
    print(r.summary())
    assert r.counts["updated"] == 2
    assert h.sh(f"cat {work}/u.log").split() == ["create-1", "update-2"]
    assert h.sh(f"cat {work}/c.log").split() == ["create-1", "create-2"]
    assert [x.action for x in r.by_name("with-update").ran] == ["update"]


def test_removed_resource_runs_stored_delete_in_reverse_dependency_order(
    hosts: list[LabHost], replay: Replay, work: str
) -> None:
    h0, h1 = hosts
    keep = {"all": True}

    def program() -> None:
        remote.Command("stays", connection=conn(h0), create="true")
        if keep["all"]:
            base = remote.Command("base", connection=conn(h0), create=f"echo up-base >> {work}/d.log",
                                  delete=f"echo down-base >> {work}/d.log")  # fmt: skip
            # on the other host, with its own connection: delete must use the stored one
            remote.Command("top", connection=conn(h1), create=f"echo up-top >> {work}/d.log",
                           delete=f"echo down-top >> {work}/d.log",
                           opts=pulumi.ResourceOptions(depends_on=[base]))  # fmt: skip

    replay.apply(program)
    keep["all"] = False
    r = replay.apply(program)
    print(r.summary())
    assert r.counts["deleted"] == 2 and r.counts["unchanged"] == 1
    assert h0.sh(f"cat {work}/d.log").split() == ["up-base", "down-base"]
    assert h1.sh(f"cat {work}/d.log").split() == ["up-top", "down-top"]
    assert r.by_name("top").ended <= r.by_name("base").started + 1e-6  # dependent deleted first
    assert set(replay.resources()) == {u for u in replay.resources() if u.endswith("::stays")}

    d = replay.destroy()
    assert d.counts["deleted"] == 1 and not replay.resources()


def test_environment_surfaces_setenv_failure(hosts: list[LabHost], replay: Replay, work: str) -> None:
    h = hosts[0]

    def program() -> None:
        remote.Command("env", connection=conn(h), create=f"echo $FOO > {work}/env", environment={"FOO": "bar"})

    with pytest.raises(ReplayError) as ei:
        replay.apply(program)
    rep = ei.value.report
    print(rep.summary())
    assert 'could not set environment variable "FOO"' in rep.by_name("env").error  # type: ignore[operator]
    assert any("Unable to set 'FOO'" in line and "AcceptEnv" in line for line in rep.log)
    assert h.run(f"test -e {work}/env", check=False).exit_status != 0  # the command never ran


def test_failure_names_host_other_resources_still_run_secrets_hidden(
    hosts: list[LabHost], replay: Replay, work: str
) -> None:
    h0, h1 = hosts

    def program() -> None:
        bad = remote.Command("bad", connection=conn(h0), create="echo oops-output; exit 3")
        remote.Command("after-bad", connection=conn(h0), create=f"touch {work}/after-bad",
                       opts=pulumi.ResourceOptions(depends_on=[bad]))  # fmt: skip
        remote.Command("good", connection=conn(h1), create=f"echo fine > {work}/good; cat {work}/good")
        remote.Command("secret-bad", connection=conn(h1),
                       create=pulumi.Output.secret("test 'tok-s3cret' = nope"))  # fmt: skip

    with pytest.raises(ReplayError) as ei:
        replay.apply(program)
    rep = ei.value.report
    print(rep.summary())
    err = rep.by_name("bad").error or ""
    assert f"{h0.ip}:22" in err and "status 3" in err and "oops-output" in err
    assert rep.by_name("good").op == "create" and h1.sh(f"cat {work}/good") == "fine"
    assert rep.by_name("after-bad").op == "skipped"
    assert h0.run(f"test -e {work}/after-bad", check=False).exit_status != 0
    sec = rep.by_name("secret-bad")
    assert sec.op == "failed" and "[secret]" in (sec.error or "")
    assert "tok-s3cret" not in str(ei.value) and "tok-s3cret" not in rep.summary()
    assert all(x.command == "[secret]" for x in sec.ran)
    assert len(rep.failures) == 2  # bad and secret-bad; after-bad is skipped, not failed


def test_parallel_independent_resources(hosts: list[LabHost], replay: Replay) -> None:
    def program() -> None:
        for i in range(6):
            h = hosts[i % 2]
            remote.Command(f"sleep-{i}", connection=conn(h), create="sleep 1; echo done")

    r = replay.apply(program)
    print(r.summary())
    spans = sorted((x.started, x.ended) for x in r.resources.values() if x.op == "create")
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    print(f"6 independent `sleep 1` commands: wall {r.wall_s:.2f}s, max overlap {overlap}")
    assert r.counts["created"] == 6


def test_connection_variants_password_hostkey_dial_limit(
    lab_hosts: object, replay: Replay, hosts: list[LabHost]
) -> None:
    (pw_host,) = lab_hosts(1, password=True, name="pw")  # type: ignore[operator]
    h = hosts[0]

    def program() -> None:
        remote.Command("by-password", connection=conn(pw_host, use_password=True), create="id -un")
        remote.Command("host-key-ok", connection=conn(h, host_key=h.host_key), create="echo ok")
        wrong = hosts[1].host_key
        remote.Command("host-key-wrong", connection=conn(h, host_key=wrong), create="echo never")
        # through a bastion (the other host): direct-tcpip from it to h
        remote.Command("via-bastion", create="hostname", connection=remote.ConnectionArgs(
            **h.connection(), proxy=remote.ProxyConnectionArgs(**hosts[1].connection())))  # fmt: skip
        remote.Command("unreachable", create="true",
                       connection=remote.ConnectionArgs(host=h.network.ip(250), private_key=h.private_key,
                                                        dial_error_limit=1, per_dial_timeout=1))  # fmt: skip

    with pytest.raises(ReplayError) as ei:
        replay.apply(program)
    rep = ei.value.report
    print(rep.summary())
    assert rep.by_name("by-password").ran[0].stdout.strip() == "root"
    assert rep.by_name("host-key-ok").op == "create"
    assert rep.by_name("via-bastion").ran[0].stdout.strip() == h.name
    assert "host key mismatch" in (rep.by_name("host-key-wrong").error or "")
    assert "failed after 2 attempt(s)" in (rep.by_name("unreachable").error or "")  # dialErrorLimit=1


def test_local_command_stdin_env_dir_and_destroy(replay: Replay, tmp_path: Path) -> None:
    def program() -> pulumi.Output[str]:
        c = local.Command("local", create="cat; echo $LAB_X; pwd", stdin="in\n", environment={"LAB_X": "x1"},
                          dir=str(tmp_path), delete=f"touch {tmp_path}/deleted")  # fmt: skip
        return c.stdout

    r = replay.apply(program)
    assert r.result == f"in\nx1\n{tmp_path}"
    replay.destroy()
    assert (tmp_path / "deleted").exists()


class _Installer(pulumi.ComponentResource):
    """A component like pulumi_kk's: children named f"{name}-<step>", a script copied then run."""

    def __init__(self, name: str, h: LabHost, work: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lab:index:Installer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        script = remote.CopyToRemote(f"{name}-script", connection=conn(h), remote_path=f"{work}/{name}.sh",
                                     source=pulumi.StringAsset(f"sleep 0.3; echo {name} >> {work}/order\n"),
                                     opts=child)  # fmt: skip
        self.run = remote.Command(f"{name}-run", connection=conn(h), create=f"sh {work}/{name}.sh",
                                  opts=pulumi.ResourceOptions(parent=self, depends_on=[script]))  # fmt: skip
        self.register_outputs({"stdout": self.run.stdout})


def test_components_config_and_depends_on_a_component(hosts: list[LabHost], tmp_path: Path, work: str) -> None:
    h = hosts[0]
    replay = Replay(tmp_path / "state.json", project="kk", config={"kk:greeting": "hi", "kk:n": 2})

    def program() -> None:
        cfg = pulumi.Config()
        first = _Installer("first", h, work)
        # depends_on a component = after all of its children
        remote.Command("after", connection=conn(h), create=f"echo {cfg.require('greeting')}-{cfg.require_int('n')}"
                       f" >> {work}/order", opts=pulumi.ResourceOptions(depends_on=[first]))  # fmt: skip
        pulumi.export("first", first.run.stdout)

    r = replay.apply(program)
    print(r.summary())
    assert h.sh(f"cat {work}/order").split() == ["first", "hi-2"]
    assert r.by_name("first").op == "echo"  # the component itself is only echoed
    assert r.counts["created"] == 3 and r.outputs == {"first": ""}


def test_failed_create_is_retried_on_next_apply(hosts: list[LabHost], replay: Replay, work: str) -> None:
    h = hosts[0]

    def program() -> None:
        remote.Command("needs-file", connection=conn(h), create=f"cat {work}/flag")

    with pytest.raises(ReplayError):
        replay.apply(program)
    h.sh(f"echo ready > {work}/flag")
    # inputs unchanged, but the resource failed to initialise: like the engine, the next apply updates it
    r = replay.apply(program)
    assert r.counts["updated"] == 1 and r.by_name("needs-file").ran[0].stdout == "ready\n"
    assert replay.apply(program).commands_run == 0


def test_program_error_deletes_nothing(replay: Replay, tmp_path: Path) -> None:
    mode = {"v": "full"}

    def program() -> None:
        local.Command("a", create="true", delete=f"touch {tmp_path}/a-deleted")
        if mode["v"] == "raise":
            raise RuntimeError("program bug")
        if mode["v"] == "full":
            local.Command("b", create="true", delete=f"touch {tmp_path}/b-deleted")

    replay.apply(program)
    mode["v"] = "raise"
    with pytest.raises(RuntimeError, match="program bug"):
        replay.apply(program)
    assert not (tmp_path / "b-deleted").exists()  # b was not registered, but the program failed: not "gone"
    mode["v"] = "without-b"
    r = replay.apply(program)
    assert r.names("delete") == ["b"] and (tmp_path / "b-deleted").exists()
