"""Run a script on a host directly (SSH with paramiko, or locally): for the commands that work without the
Pulumi engine (``precheck``)."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass

import paramiko

from ..inventory import Host


@dataclass(frozen=True)
class Result:
    host: str
    exit_code: int
    stdout: str
    stderr: str


def _pkey(text: str, password: str | None) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.RSAKey, paramiko.ECDSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=password)
        except paramiko.SSHException:
            continue
    raise ValueError("unsupported private key type")


def run(host: Host, script: str, timeout: float = 60.0) -> Result:
    """Run ``script`` with bash on ``host``; connection errors come back as exit code 255 with the reason."""
    if host.is_local:
        p = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, timeout=timeout)
        return Result(host.name, p.returncode, p.stdout, p.stderr)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(str(host.address), port=int(host.port), username=str(host.user),
                       password=host.password, timeout=15, banner_timeout=15, auth_timeout=15,
                       pkey=_pkey(host.private_key, host.private_key_password) if host.private_key else None,
                       allow_agent=host.private_key is None and host.password is None,
                       look_for_keys=host.private_key is None and host.password is None)
        stdin, stdout, stderr = client.exec_command("bash -s", timeout=timeout)
        stdin.write(script)
        stdin.channel.shutdown_write()
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return Result(host.name, stdout.channel.recv_exit_status(), out, err)
    except (OSError, paramiko.SSHException) as exc:
        return Result(host.name, 255, "", f"cannot reach {host.name} ({host.address}:{host.port}): {exc}")
    finally:
        client.close()
