"""Graph tests: Pulumi programs run under mocks (see ``mockkit``). Makes ``import mockkit`` work anywhere below."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import mockkit  # noqa: E402


@pytest.fixture
def binary_dir(tmp_path: Path) -> Path:
    """A KubeKey binary_dir with fake amd64 docker 24.0.7 and docker compose v2.20.3."""
    return mockkit.fake_binary_dir(tmp_path / "kubekey")


@pytest.fixture
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at cost 4 instead of 10 (htpasswd lines are rendered per host and arch: 0.15 s each otherwise).
    Still deterministic, so two runs in one test compare as a real preview would."""
    import bcrypt

    real = bcrypt.hashpw

    def hashpw(password: bytes, salt: bytes) -> bytes:
        return real(password, salt.replace(b"$10$", b"$04$", 1))

    monkeypatch.setattr(bcrypt, "hashpw", hashpw)
