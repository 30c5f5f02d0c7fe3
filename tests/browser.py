"""Headless Chromium for tests that look at a page as a person would: the DOM after its
scripts ran, and a screenshot. Debian's ``chromium`` package; tests skip with a reason
without it. Nothing is fetched: every host name resolves to nothing, so a page that
needed the network would show it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["chromium", "dump_dom", "screenshot"]

_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",  # WebGL in software (parcoords)
    "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=5000",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium; .ci/run installs it)")
    return path


def _run(page: str | Path, *extra: str, timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="orch-chromium-") as profile:
        done = subprocess.run([chromium(), *_FLAGS, f"--user-data-dir={profile}", *extra, Path(page).resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def dump_dom(page: str | Path) -> str:
    """The page's DOM as HTML once its scripts have run (5 s of virtual time)."""
    return _run(page, "--dump-dom")


def screenshot(page: str | Path, png: Path, width: int = 1400, height: int = 3000) -> Path:
    _run(page, f"--screenshot={png}", f"--window-size={width},{height}")
    assert png.exists(), "chromium wrote no screenshot"
    return png
