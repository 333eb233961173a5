"""Storage servers the lab hosts can reach: started on the lab network's gateway address (this machine, as the
hosts see it), stopped by PID at the end of the session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from servers import Emulator, free_port, start, stop

from ..hosts import LabNetwork


@pytest.fixture(scope="session")
def lab_s3(lab_net: LabNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """moto's S3 server on ``http://<gateway>:<port>`` (reachable from lab hosts and their containers)."""
    host = lab_net.gateway
    port = free_port(host)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    emu = start("moto-lab", [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], port,
                f"http://{host}:{port}/moto-api/", Path(tmp_path_factory.mktemp("lab-s3")), env=env, host=host)
    yield emu
    stop(emu)


def s3_client(emu: Emulator) -> object:
    """A boto3 client for ``emu`` (moto accepts any key; it does not check SigV4 signatures)."""
    return boto3.client("s3", endpoint_url=emu.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")
