"""Lab hosts: containers of the host image on a per-run network, reachable over SSH, systemd as PID 1.

One `LabRun` per pytest session: a run id, a name prefix (`kklab-<id>`), an ed25519 key pair, one network
(10.210.0.0/24 unless another live run holds it, then 10.210.1.0/24, …) and the hosts started so far.
Everything the run creates carries the labels `pulumi-kk-lab.run` and `pulumi-kk-lab.owner` (pid + start time of
the pytest process); objects whose owner process is gone are leftovers and are removed when the next run starts
(hosts kept with LAB_KEEP=1 stay until `python tests/lab/cleanup.py`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import ssh
from .common import LAB_DIR, LABEL, LabError, docker, log, run
from .host_image import ensure_host_image

RUNS_DIR = LAB_DIR / "runs"
SUBNET_BASE = ipaddress.ip_network(os.environ.get("LAB_SUBNET_BASE", "10.210.0.0/16"))
FIRST_HOST_OCTET = 11  # hosts get .11, .12, …; .100-.199 are free for VIPs (LabNetwork.vip)
LAST_HOST_OCTET = 99

# The "near-privileged" option set (lab.md): --privileged fails on these VMs (CAP_SYS_RESOURCE is outside the
# bounding set). NEVER add `-v /sys/fs/cgroup:/sys/fs/cgroup` or `--cgroupns host` with that mount: systemd then
# remounts the machine's shared cgroup tmpfs read-only.
HOST_RUN_OPTIONS = [
    "--cap-add", "ALL",
    "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
    "--cgroupns", "private",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "--stop-signal", "SIGRTMIN+3",
]  # fmt: skip


def _proc_start_time(pid: int) -> str | None:
    """Start time of a live process (None when gone or a zombie: a killed pytest may linger unreaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # field 3: state
        return None
    return fields[19]  # field 22: starttime


def owner_token(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{pid}:{_proc_start_time(pid)}"


def owner_alive(token: str) -> bool:
    pid_s, _, start = token.partition(":")
    try:
        pid = int(pid_s)
    except ValueError:
        return False
    return _proc_start_time(pid) == start


@dataclass(frozen=True)
class LabNetwork:
    name: str
    subnet: str  # e.g. "10.210.0.0/24"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    def ip(self, octet: int) -> str:
        """Address `octet` in the subnet (ip(11) → 10.210.0.11)."""
        return str(ipaddress.ip_network(self.subnet).network_address + octet)

    def vip(self, n: int = 0) -> str:
        """A free address for a virtual IP: .100 + n (never given to a host)."""
        return self.ip(100 + n)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


@dataclass
class LabHost:
    """A running lab host. `private_key` is OpenSSH PEM text; `password` is set for password-login hosts."""

    name: str
    ip: str
    private_key: str
    public_key: str
    host_key: str  # sshd's ed25519 public key line ("ssh-ed25519 AAAA…"), for pulumi-command's hostKey
    container: str
    volume: str
    network: LabNetwork
    port: int = 22
    user: str = "root"
    password: str | None = None
    init: str = "systemd"
    _client: paramiko.SSHClient | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # -- connection data for Pulumi programs
    def connection(self, *, use_password: bool = False, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for `pulumi_command.remote.ConnectionArgs(**host.connection())`."""
        d: dict[str, Any] = {"host": self.ip, "port": self.port, "user": self.user}
        if use_password:
            if self.password is None:
                raise LabError(f"{self.name} was started without a password (lab_hosts(..., password=True))")
            d["password"] = self.password
        else:
            d["private_key"] = self.private_key
        d.update(extra)
        return d

    def target(self) -> ssh.SshTarget:
        return ssh.SshTarget(host=self.ip, port=self.port, user=self.user, private_key=self.private_key)

    # -- direct access for assertions
    def client(self) -> paramiko.SSHClient:
        with self._lock:
            c = self._client
            if c is None or c.get_transport() is None or not c.get_transport().is_active():  # type: ignore[union-attr]
                c = ssh.dial(self.target(), dial_error_limit=20)
                self._client = c
            return c

    def run(self, cmd: str, *, check: bool = True, stdin: str | None = None, timeout: float = 300) -> ssh.ExecResult:
        """Run a shell command over SSH. check=True raises LabError on a non-zero exit."""
        r = ssh.exec_command(self.client(), cmd, stdin=stdin, timeout=timeout)
        if check and r.exit_status != 0:
            raise LabError(f"{self.name} ({self.ip}): `{cmd}` exited {r.exit_status}:\n{r.combined}")
        return r

    def sh(self, cmd: str, timeout: float = 300) -> str:
        """Run and return stdout without the trailing newline."""
        return self.run(cmd, timeout=timeout).stdout.rstrip("\n")

    def put(self, local: str | os.PathLike[str], remote: str) -> None:
        with self.client().open_sftp() as sftp:
            sftp.put(str(local), remote)

    def read(self, remote: str) -> bytes:
        with self.client().open_sftp() as sftp, sftp.open(remote, "rb") as f:
            return f.read()

    def docker_exec(self, cmd: str) -> str:
        """Bypass SSH: `docker exec <container> sh -c cmd` (for debugging a host whose sshd is broken)."""
        return docker("exec", self.container, "sh", "-c", cmd)

    def ssh_command(self, key_path: Path) -> str:
        return (
            f"ssh -i {key_path} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            f"{self.user}@{self.ip}"
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class LabRun:
    """Per-session state: run id, network, key, hosts. Thread-safe."""

    def __init__(self, keep: bool | None = None) -> None:
        self.run_id = secrets.token_hex(3)
        self.prefix = f"kklab-{self.run_id}"
        self.owner = owner_token()
        self.keep = keep if keep is not None else os.environ.get("LAB_KEEP", "") not in ("", "0")
        self.dir = RUNS_DIR / self.prefix
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "OWNER").write_text(self.owner)
        key = Ed25519PrivateKey.generate()
        self.private_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        self.public_key = (
            key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
            + f" {self.prefix}"
        )
        self.key_path = self.dir / "id_ed25519"
        self.key_path.write_text(self.private_key)
        self.key_path.chmod(0o600)
        (self.dir / "id_ed25519.pub").write_text(self.public_key + "\n")
        self._lock = threading.Lock()
        self._network: LabNetwork | None = None
        self._used_octets: set[int] = set()
        self._counter = 0
        self.hosts: list[LabHost] = []
        self.kept: list[str] = []

    def labels(self) -> list[str]:
        out = ["--label", f"{LABEL}.run={self.prefix}", "--label", f"{LABEL}.owner={self.owner}"]
        if self.keep:
            out += ["--label", f"{LABEL}.keep=1"]
        return out

    # -- network
    def network(self) -> LabNetwork:
        with self._lock:
            if self._network is None:
                self._network = self._create_network()
            return self._network

    def _create_network(self) -> LabNetwork:
        used: set[str] = set()
        ids = docker("network", "ls", "-q").split()
        if ids:
            for net in json.loads(docker("network", "inspect", *ids)):
                for cfg in (net.get("IPAM") or {}).get("Config") or []:
                    if cfg.get("Subnet"):
                        used.add(cfg["Subnet"])
        # … and the machine's own routes (a lab subnet overlapping the machine's network would cut it off)
        for line in run(["ip", "-o", "-4", "route", "show"], check=False).stdout.splitlines():
            dest = line.split()[0] if line.strip() else "default"
            if dest == "default":
                continue
            try:
                used.add(str(ipaddress.ip_network(dest, strict=False)))
            except ValueError:
                continue
        name = f"{self.prefix}-net"
        for sub in SUBNET_BASE.subnets(new_prefix=24):
            if any(ipaddress.ip_network(u, strict=False).overlaps(sub) for u in used):
                continue
            gw = str(sub.network_address + 1)
            docker(
                "network", "create", "--driver", "bridge", "--subnet", str(sub), "--gateway", gw,
                *self.labels(), name,
            )  # fmt: skip
            log(f"network {name} {sub}")
            return LabNetwork(name=name, subnet=str(sub))
        raise LabError(f"no free /24 left in {SUBNET_BASE}")

    def _alloc_octet(self) -> int:
        with self._lock:
            for o in range(FIRST_HOST_OCTET, LAST_HOST_OCTET + 1):
                if o not in self._used_octets:
                    self._used_octets.add(o)
                    return o
        raise LabError("more than 89 hosts alive in one run")

    # -- hosts
    def start_hosts(
        self,
        n: int = 1,
        *,
        password: bool | str = False,
        init: str = "systemd",
        name: str = "h",
        image: str | None = None,
        extra_args: Sequence[str] = (),
        timeout_s: float = 120.0,
    ) -> list[LabHost]:
        """Start `n` hosts and wait until each answers SSH and systemd reports running/degraded.

        password=True gives root a random password and allows password login (str: that password).
        init="sshd" runs sshd as PID 1 instead of systemd (no systemctl)."""
        image = image or ensure_host_image()
        net = self.network()
        t0 = time.monotonic()
        pw: str | None = None
        if password:
            pw = password if isinstance(password, str) else "lab-" + secrets.token_urlsafe(12)
        specs = []
        with self._lock:
            base = self._counter
            self._counter += n
        for i in range(n):
            hname = f"{self.prefix}-{name}{base + i + 1}"
            octet = self._alloc_octet()
            specs.append((hname, net.ip(octet), octet))

        def start(spec: tuple[str, str, int]) -> LabHost:
            hname, ip, _octet = spec
            vol = f"{hname}-docker"
            args = [
                "run", "-d", "--name", hname, "--hostname", hname,
                "--network", net.name, "--ip", ip,
                *HOST_RUN_OPTIONS,
                "-v", f"{vol}:/var/lib/docker",
                "-e", f"LAB_AUTHORIZED_KEY={self.public_key}",
                "-e", f"LAB_INIT={init}",
                *self.labels(),
                "--label", f"{LABEL}.role=host",
                *(["-e", f"LAB_ROOT_PASSWORD={pw}"] if pw else []),
                *extra_args,
                image,
            ]  # fmt: skip
            docker("volume", "create", *self.labels(), vol)
            cid = docker(*args)
            host = LabHost(
                name=hname,
                ip=ip,
                private_key=self.private_key,
                public_key=self.public_key,
                host_key="",
                container=cid[:12],
                volume=vol,
                network=net,
                password=pw,
                init=init,
            )
            with self._lock:
                self.hosts.append(host)
            return host

        with ThreadPoolExecutor(max_workers=min(n, 8)) as ex:
            hosts = list(ex.map(start, specs))
        t_run = time.monotonic() - t0
        with ThreadPoolExecutor(max_workers=min(n, 8)) as ex:
            list(ex.map(lambda h: self._wait_ready(h, timeout_s), hosts))
        log(
            f"{n} host(s) {', '.join(f'{h.name}={h.ip}' for h in hosts)} ready in "
            f"{time.monotonic() - t0:.1f}s (docker run {t_run:.1f}s, init={init})"
        )
        return hosts

    def _wait_ready(self, host: LabHost, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                c = ssh.connect(host.target())
                key = c.get_transport().get_remote_server_key()  # type: ignore[union-attr]
                host._client = c
                break
            except Exception as e:  # sshd not up yet
                last = e
                time.sleep(0.2)
        else:
            raise LabError(f"{host.name} ({host.ip}): no SSH within {timeout_s:.0f}s: {last}\n{self._logs(host)}")
        host_key = key.get_name() + " " + key.get_base64()
        if key.get_name() != "ssh-ed25519":
            host_key = host.docker_exec("cat /etc/ssh/ssh_host_ed25519_key.pub").split(" comment")[0]
        host.host_key = " ".join(host_key.split()[:2])
        if host.init == "systemd":
            left = max(5.0, deadline - time.monotonic())
            r = host.run(f"timeout {left:.0f} systemctl is-system-running --wait", check=False)
            state = r.stdout.strip()
            if state not in ("running", "degraded"):
                failed = host.run("systemctl --failed --no-legend --plain", check=False).stdout
                raise LabError(f"{host.name}: systemd is {state!r} (rc {r.exit_status}); failed units:\n{failed}")
            if state == "degraded":
                failed = host.run("systemctl --failed --no-legend --plain", check=False).stdout
                log(f"{host.name}: systemd degraded; failed units: {failed.strip()}")

    def _logs(self, host: LabHost) -> str:
        return docker("logs", "--tail", "30", host.container, check=False)

    def remove_hosts(self, hosts: Sequence[LabHost]) -> None:
        if not hosts:
            return
        for h in hosts:
            h.close()
        if self.keep:
            for h in hosts:
                self.kept.append(
                    f"{h.name} {h.ip}: {h.ssh_command(self.key_path)}"
                    + (f"   (root password: {h.password})" if h.password else "")
                    + f"   |  DOCKER_HOST={os.environ.get('DOCKER_HOST', '')} docker exec -it {h.name} bash"
                )
            (self.dir / "KEPT.txt").write_text("\n".join(self.kept) + "\n")
            with self._lock:
                for h in hosts:
                    if h in self.hosts:
                        self.hosts.remove(h)
            return
        docker("rm", "-f", "-v", *[h.name for h in hosts], check=False, timeout=120)
        docker("volume", "rm", "-f", *[h.volume for h in hosts], check=False)
        with self._lock:
            for h in hosts:
                self._used_octets.discard(int(h.ip.rsplit(".", 1)[1]))
                if h in self.hosts:
                    self.hosts.remove(h)

    def close(self) -> None:
        """End of session: remove what is left (unless LAB_KEEP), then the network and run dir."""
        self.remove_hosts(list(self.hosts))
        if self.keep:
            return
        if self._network is not None:
            docker("network", "rm", self._network.name, check=False)
        # Another session's leftover sweep may have removed the directory already.
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_leftovers(include_kept: bool = False) -> dict[str, int]:
    """Remove containers, volumes and networks of lab runs whose pytest process is gone."""
    removed = {"containers": 0, "volumes": 0, "networks": 0, "kept": 0}
    fmt = '{{.ID}} {{.Label "' + LABEL + '.owner"}} {{.Label "' + LABEL + '.keep"}}'

    def stale(lines: str) -> list[str]:
        out = []
        for line in lines.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            kept = len(parts) > 2 and parts[2] == "1"
            if owner_alive(parts[1]):
                continue
            if kept and not include_kept:
                removed["kept"] += 1
                continue
            out.append(parts[0])
        return out

    cs = stale(docker("ps", "-a", "--filter", f"label={LABEL}.owner", "--format", fmt))
    if cs:
        docker("rm", "-f", *cs, check=False, timeout=180)
        removed["containers"] = len(cs)
    vs = stale(
        docker("volume", "ls", "--filter", f"label={LABEL}.owner", "--format", fmt.replace(".ID", ".Name"))
    )
    if vs:
        docker("volume", "rm", "-f", *vs, check=False)
        removed["volumes"] = len(vs)
    ns = stale(docker("network", "ls", "--filter", f"label={LABEL}.owner", "--format", fmt))
    if ns:
        docker("network", "rm", *ns, check=False)
        removed["networks"] = len(ns)
    if RUNS_DIR.exists():
        live = set(docker("ps", "-a", "--filter", f"label={LABEL}.run", "--format",
                          '{{.Label "' + LABEL + '.run"}}').split())  # fmt: skip
        for d in RUNS_DIR.iterdir():
            owner = d / "OWNER"
            if owner.exists() and owner_alive(owner.read_text().strip()):
                continue  # a live session that has no container at this moment
            if d.is_dir() and d.name not in live and (include_kept or not (d / "KEPT.txt").exists()):
                for p in d.glob("*"):
                    p.unlink()
                d.rmdir()
    if removed["containers"] or removed["volumes"] or removed["networks"]:
        log(f"removed leftovers of earlier lab runs: {removed}")
    if removed["kept"]:
        log(f"{removed['kept']} object(s) kept with LAB_KEEP=1 by earlier runs are still there "
            "(python tests/lab/cleanup.py removes them)")  # fmt: skip
    return removed
