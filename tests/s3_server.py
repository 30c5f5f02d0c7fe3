"""A real S3-compatible server for the tests: moto's standalone server (``moto[server]``), a
separate process listening on 127.0.0.1 at a free port, with a fresh bucket per use. Stores
reach it through pyarrow's S3 filesystem, the way they reach AWS; credentials come from the
usual AWS environment variables, set here to moto's test values (never real ones)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str  # host:port
    process: subprocess.Popen

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", region="us-east-1",
                                 access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                 secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], allow_bucket_creation=True)

    def new_bucket(self) -> str:
        name = f"orch-{uuid.uuid4().hex[:12]}"
        self.filesystem().create_dir(name)
        return name

    def store_uri(self, bucket: str, path: str = "store") -> str:
        return f"s3://{bucket}/{path}?endpoint_override={self.endpoint}&scheme=http&region=us-east-1"

    def files(self, prefix: str) -> list[str]:
        """Every object under ``prefix`` (bucket/path), as bucket-relative paths."""
        selector = pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
        return sorted(i.path for i in self.filesystem().get_file_info(selector) if i.type == pafs.FileType.File)


def start(log: Path) -> S3Server:
    """Start the server and wait until it answers; the caller stops ``process``."""
    os.environ.update(CREDENTIALS)  # this process, and the Ray workers and drivers it starts
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    return S3Server(f"127.0.0.1:{port}", process)
