"""``pulumi-kk precheck image_registry`` end to end: the probe runs for real.

The local connector (``examples/inventory/localhost.yaml``) runs the probe script on this machine with bash; an SSH
host on a closed port shows what an unreachable host looks like. Nothing is mocked: the table depends on this
machine only where the test says so (systemd as PID 1 or not), and errors are forced through settings so the exit
code does not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pulumi_kk.cli.main import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main

REPO = Path(__file__).resolve().parents[3]
LOCALHOST = REPO / "examples" / "inventory" / "localhost.yaml"
HEADER = re.compile(r"^HOST\s+CHECK\s+RESULT\s+DETAIL$")
#: Whether this machine boots systemd (the probe's own test).
SYSTEMD = Path("/run/systemd/system").is_dir()

Row = tuple[str, str, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["precheck", "image_registry", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[Row]:
    """The rows of the table (up to the blank line before "To fix:"), as (host, check, result, detail)."""
    lines = out.splitlines()
    assert lines and HEADER.match(lines[0].rstrip()), f"no table header in:\n{out}"
    rows: list[Row] = []
    for line in lines[1:]:
        if not line.strip():
            break
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=3)
        assert len(parts) >= 3, f"not a table row: {line!r}"
        host, check, result = parts[0], parts[1], parts[2]
        rows.append((host, check, result, parts[3] if len(parts) > 3 else ""))
    return rows


def row(rows: list[Row], host: str, check: str) -> Row:
    found = [r for r in rows if r[0] == host and r[1] == check]
    assert len(found) == 1, f"expected one row {host}/{check}, got {found} in {rows}"
    return found[0]


def inventory(tmp_path: Path, hosts: str, members: str) -> Path:
    p = tmp_path / "inventory.yaml"
    p.write_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Inventory\nspec:\n  hosts:\n"
                 f"{hosts}  groups:\n    image_registry:\n      hosts: [{members}]\n")
    return p


UNREACHABLE = ("    node1:\n      connector:\n        type: ssh\n        host: 127.0.0.1\n        port: 1\n"
               "        user: root\n        password: not-used\n")


# --- local connector ---------------------------------------------------------------------------------------------


def test_localhost_table_has_header_and_rows_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-i", str(LOCALHOST), "--set", "precheck.as_warnings=true")

    rows = table_rows(out)
    assert code == EXIT_OK
    # the inventory-wide rows come first, with host "-"
    assert {r[1] for r in rows if r[0] == "-"} >= {"version docker_version", "version dockercompose_version"}
    local = {r[1]: r for r in rows if r[0] == "localhost"}
    assert {"os family", "arch", "memory", "cpus", "tool tar", "tool iptables", "systemd"} <= set(local)
    assert local["arch"][2] == "OK" and local["arch"][3] in ("amd64", "arm64")
    assert re.fullmatch(r"\d+\.\d GB \(need 8\)", local["memory"][3])
    assert local["systemd"][3] == ("running" if SYSTEMD else "not PID 1")
    # as_warnings: nothing is an ERROR, so the exit code is 0 whatever this machine lacks
    assert all(r[2] in ("OK", "WARNING") for r in rows), rows


def test_an_error_row_gives_exit_1_and_a_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-i", str(LOCALHOST), "--set", "precheck.min_memory_gb=100000")

    rows = table_rows(out)
    assert code == EXIT_FAILED
    mem = row(rows, "localhost", "memory")
    assert mem[2] == "ERROR" and mem[3].endswith("(need 100000)")
    assert "To fix:" in out
    assert "- localhost memory: give the host more memory" in out
    # systemd: an ERROR on a machine without systemd as PID 1 (like this sandbox), OK on one with it
    assert row(rows, "localhost", "systemd")[2] == ("OK" if SYSTEMD else "ERROR")


def test_systemd_missing_is_an_error_unless_as_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-i", str(LOCALHOST))
    rows = table_rows(out)
    if SYSTEMD:
        assert row(rows, "localhost", "systemd")[2] == "OK"
    else:
        assert row(rows, "localhost", "systemd") == ("localhost", "systemd", "ERROR", "not PID 1")
        assert code == EXIT_FAILED

    code, out, _ = run(capsys, "-i", str(LOCALHOST), "--set", "precheck.as_warnings=true")
    assert code == EXIT_OK
    assert row(table_rows(out), "localhost", "systemd")[2] == ("OK" if SYSTEMD else "WARNING")


def test_config_files_and_repeated_set_are_applied_in_order(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("apiVersion: kubekey.kubesphere.io/v1\nkind: Config\nspec:\n"
                   "  image_registry:\n    type: registry\n  precheck:\n    min_memory_gb: 100000\n")
    code, out, _ = run(capsys, "-i", str(LOCALHOST), "-c", str(cfg),
                       "--set", "precheck.min_memory_gb=0.001", "--set", "precheck.as_warnings=true")

    rows = table_rows(out)
    assert code == EXIT_OK
    assert row(rows, "localhost", "memory")[2] == "OK"  # --set beat the config file
    assert {r[1] for r in rows if r[0] == "-"} >= {"version registry_version"}  # type=registry from -c
    assert "version harbor_version" not in {r[1] for r in rows}
    assert row(rows, "localhost", "artifact registry")[2] in ("OK", "WARNING")


# --- SSH ---------------------------------------------------------------------------------------------------------


def test_unreachable_ssh_host_is_a_reachable_error_naming_it(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    inv = inventory(tmp_path, UNREACHABLE, "node1")
    code, out, _ = run(capsys, "-i", str(inv), "--set", "precheck.as_warnings=true")

    rows = table_rows(out)
    assert code == EXIT_FAILED  # as_warnings covers the host's checks, not a host that cannot be probed
    host, check, result, detail = row(rows, "node1", "reachable")
    assert result == "ERROR"
    assert "node1" in detail and "127.0.0.1:1" in detail
    assert [r for r in rows if r[0] == "node1"] == [(host, check, result, detail)]
    assert "- node1 reachable: check the connector" in out


def test_hosts_are_probed_independently(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inv = inventory(tmp_path, UNREACHABLE + "    localhost: {}\n", "localhost, node1")
    code, out, _ = run(capsys, "-i", str(inv), "--set", "precheck.as_warnings=true")

    rows = table_rows(out)
    assert code == EXIT_FAILED
    assert row(rows, "node1", "reachable")[2] == "ERROR"
    assert row(rows, "localhost", "os family")[2] in ("OK", "WARNING")  # the reachable host still got its rows
    assert not [r for r in rows if r[0] == "localhost" and r[1] == "reachable"]
    # rows keep the inventory's host order
    hosts = [r[0] for r in rows if r[0] != "-"]
    assert hosts.index("localhost") < hosts.index("node1")


# --- bad input ---------------------------------------------------------------------------------------------------


def test_bad_set_is_exit_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-i", str(LOCALHOST), "--set", "precheck.min_memory_gbb=1")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.startswith("error: ") and "min_memory_gbb" in err


def test_missing_inventory_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "-i", str(tmp_path / "nope.yaml"))
    assert code == EXIT_BAD_INPUT
    assert "nope.yaml" in err
