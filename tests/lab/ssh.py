"""paramiko helpers shared by the host fixtures and the replay executor."""

from __future__ import annotations

import io
import select
import threading
import time
from dataclasses import dataclass, field

import paramiko

_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class SetenvError(RuntimeError):
    """The server refused an environment variable (sshd without a matching AcceptEnv)."""

    def __init__(self, key: str, cause: str) -> None:
        super().__init__(f'could not set environment variable "{key}": {cause}')
        self.key = key


class HostKeyMismatch(paramiko.SSHException):
    pass


class DialError(OSError):
    """Dialing failed `attempts` times (the limit was reached)."""

    def __init__(self, target: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"dial {target} failed after {attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


def load_private_key(text: str, password: str | None = None) -> paramiko.PKey:
    errors = []
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text), password=password)
        except (paramiko.SSHException, ValueError) as e:
            errors.append(f"{cls.__name__}: {e}")
    raise paramiko.SSHException("cannot parse private key: " + "; ".join(errors))


class _ExpectHostKey(paramiko.MissingHostKeyPolicy):
    """Accept exactly the given host key (`<type> <base64>` like an authorized_keys line); None accepts any key
    (pulumi-command without hostKey uses InsecureIgnoreHostKey)."""

    def __init__(self, expected: str | None) -> None:
        self.expected = expected.split()[:2] if expected else None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if self.expected is None:
            return
        got = [key.get_name(), key.get_base64()]
        if got != self.expected:
            raise HostKeyMismatch(
                f"ssh: handshake failed: host key mismatch for {hostname}: got {got[0]} {got[1][:16]}…, "
                f"expected {self.expected[0]} {self.expected[1][:16]}…"
            )


def _host_key_algorithms_to_disable(expected: str | None) -> list[str]:
    """Make the server present the key type the caller pinned (paramiko negotiates one host-key algorithm)."""
    if not expected:
        return []
    ktype = expected.split()[0]
    wanted = {ktype}
    if ktype == "ssh-rsa":
        wanted |= {"rsa-sha2-256", "rsa-sha2-512"}
    all_algos = list(paramiko.Transport._preferred_keys)  # type: ignore[attr-defined]
    return [a for a in all_algos if a not in wanted and not a.endswith("-cert-v01@openssh.com")]


@dataclass
class SshTarget:
    host: str
    port: int = 22
    user: str = "root"
    private_key: str | None = None
    private_key_password: str | None = None
    password: str | None = None
    host_key: str | None = None
    per_dial_timeout: float = 15.0


def connect(t: SshTarget) -> paramiko.SSHClient:
    """One dial attempt (no retry)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_ExpectHostKey(t.host_key))
    pkey = load_private_key(t.private_key, t.private_key_password) if t.private_key else None
    disabled = _host_key_algorithms_to_disable(t.host_key)
    timeout = t.per_dial_timeout or None
    client.connect(
        t.host,
        port=t.port,
        username=t.user,
        pkey=pkey,
        password=t.password,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
        allow_agent=False,
        look_for_keys=False,
        disabled_algorithms={"keys": disabled} if disabled else None,
    )
    return client


def dial(t: SshTarget, dial_error_limit: int = 10, backoff_s: float = 0.25) -> paramiko.SSHClient:
    """Dial with retries like pulumi-command: up to `dial_error_limit` failed dials (-1 = unlimited).

    Authentication and host-key failures are not retried (they will not heal)."""
    dials = 0
    delay = backoff_s
    while True:
        try:
            return connect(t)
        except (paramiko.AuthenticationException, HostKeyMismatch):
            raise
        except (TimeoutError, OSError, paramiko.SSHException, EOFError) as e:
            dials += 1
            if dial_error_limit > -1 and dials > dial_error_limit:
                raise DialError(f"{t.host}:{t.port}", dials, e) from e
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@dataclass
class ExecResult:
    exit_status: int
    stdout: str
    stderr: str
    combined: str  # stdout and stderr interleaved in arrival order
    refused_env: list[str] = field(default_factory=list)  # optional_env names the server refused

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def exec_command(
    client: paramiko.SSHClient,
    cmd: str,
    *,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    optional_env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> ExecResult:
    """Run `cmd` in a new session. `env` is sent with setenv requests, each checked (a refusal raises
    SetenvError, like pulumi-command's `environment`); `optional_env` failures are ignored (like its
    PULUMI_COMMAND_STDOUT/STDERR)."""
    transport = client.get_transport()
    assert transport is not None
    chan = transport.open_session(timeout=timeout)
    try:
        for k, v in (env or {}).items():
            if not _setenv(chan, k, v):
                raise SetenvError(k, "ssh: setenv failed")
        refused = [k for k, v in (optional_env or {}).items() if not _setenv(chan, k, v)]
        chan.exec_command(cmd)
        data = (stdin.encode() if isinstance(stdin, str) else stdin) or b""

        def feed() -> None:  # in a thread: a command writing lots of output before reading stdin cannot deadlock
            try:
                if data:
                    chan.sendall(data)
                chan.shutdown_write()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # the command exited without reading all of stdin

        feeder = threading.Thread(target=feed, name="ssh-stdin", daemon=True)
        feeder.start()
        deadline = time.monotonic() + timeout if timeout else None
        out, err, both = bytearray(), bytearray(), bytearray()
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"command did not finish within {timeout:.0f}s")
            got = False
            if chan.recv_ready():
                d = chan.recv(65536)
                out += d
                both += d
                got = True
            if chan.recv_stderr_ready():
                d = chan.recv_stderr(65536)
                err += d
                both += d
                got = True
            if not got:
                # read to EOF: sshd may send exit-status BEFORE the last data of the command (RFC 4254 does not
                # order them), so an exit status alone does not mean all output has arrived
                if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                # the channel's fileno is an OR-pipe of the stdout and stderr buffers (data, EOF or close)
                select.select([chan], [], [], 0.05)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not chan.status_event.wait(left):
            raise TimeoutError(f"no exit status within {timeout:.0f}s")
        status = chan.recv_exit_status()
        return ExecResult(
            status,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            both.decode(errors="replace"),
            refused,
        )
    finally:
        chan.close()


def _setenv(chan: paramiko.Channel, key: str, value: str, timeout: float = 15.0) -> bool:
    """Send an "env" channel request WITH want-reply and return whether the server accepted it.

    paramiko's Channel.set_environment_variable sends want_reply=False, so a refusal goes unnoticed; the Go
    client behind pulumi-command asks for a reply (session.Setenv → "ssh: setenv failed"), and sshd refuses
    names not listed in AcceptEnv."""
    m = paramiko.Message()
    m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("env")
    m.add_boolean(True)
    m.add_string(key)
    m.add_string(value)
    chan._lab_env_pending = True  # type: ignore[attr-defined]
    chan.event.clear()
    chan.event_ready = False
    try:
        chan.transport._send_user_message(m)  # type: ignore[union-attr]
        if not chan.event.wait(timeout):
            return False
        return bool(chan.event_ready)
    finally:
        chan._lab_env_pending = False  # type: ignore[attr-defined]


def _install_request_failure_hook() -> None:
    """paramiko closes a channel when a channel request fails; for our env requests, record the failure and keep
    the channel open (as Go's x/crypto/ssh does). Other channels keep paramiko's behaviour."""
    table = paramiko.Transport._channel_handler_table  # type: ignore[attr-defined]
    key = paramiko.common.MSG_CHANNEL_FAILURE
    orig = table[key]
    if getattr(orig, "_lab_hook", False):
        return

    def _request_failed(chan: paramiko.Channel, m: paramiko.Message) -> None:
        if getattr(chan, "_lab_env_pending", False):
            chan.event_ready = False
            chan.event.set()
            return
        orig(chan, m)

    _request_failed._lab_hook = True  # type: ignore[attr-defined]
    table[key] = _request_failed


_install_request_failure_hook()
