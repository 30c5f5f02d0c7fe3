"""--address forms: every one checked before Ray sees it (orchestrator/address.py)."""

from __future__ import annotations

import pytest

from orchestrator.address import parse_address
from orchestrator.errors import InputError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text, scheme, host, port, ray_text", [
    ("auto", "auto", None, None, "auto"),
    (" AUTO ", "auto", None, None, "auto"),
    ("head:6379", "gcs", "head", 6379, "head:6379"),
    ("10.0.0.1:1", "gcs", "10.0.0.1", 1, "10.0.0.1:1"),
    ("[::1]:65535", "gcs", "::1", 65535, "[::1]:65535"),
    ("ray://head:10001", "ray", "head", 10001, "ray://head:10001"),
    ("ray://head", "ray", "head", None, "ray://head"),
])
def test_cluster_addresses_accepted(text, scheme, host, port, ray_text):
    a = parse_address(text, "cluster")
    assert (a.scheme, a.host, a.port, a.text) == (scheme, host, port, ray_text)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty address"),
    ("   ", "empty address"),
    ("head", "the port is missing"),
    ("head:", "the port must be a number"),
    ("head:0", "1-65535, got 0"),
    ("head:65536", "1-65535, got 65536"),
    ("head:-1", "must be a number"),
    ("head:abc", "must be a number"),
    ("head:６３７９", "must be a number"),  # full-width digits: isdigit() alone says yes
    (":6379", "the host is missing"),
    ("::1:6379", "IPv6 address goes in brackets"),
    ("[::1:6379", "needs its ']'"),
    ("[nothost]:6379", "not an IPv6 address"),
    ("[::1]6379", "expected ':PORT'"),
    ("he ad:6379", "no spaces"),
    ("he$ad:6379", "not a host name"),
    ("http://head:8265", "is for `orch submit`"),
    ("gcs://head:6379", "unknown scheme"),
    ("head:6379/x", "without a path"),
    ("ray://", "the host is missing"),
])
def test_bad_cluster_addresses_are_one_line_errors(text, fragment):
    with pytest.raises(InputError, match=None) as info:
        parse_address(text, "cluster")
    message = str(info.value)
    assert fragment in message and "\n" not in message and "expected auto" in message


@pytest.mark.parametrize("text, host, port, url", [
    ("http://head:8265", "head", 8265, "http://head:8265"),
    ("https://head", "head", None, "https://head"),
    ("http://head:8265/", "head", 8265, "http://head:8265/"),
    ("head:8265", "head", 8265, "http://head:8265"),
    ("http://[::1]:8265", "::1", 8265, "http://[::1]:8265"),
])
def test_jobs_addresses_accepted(text, host, port, url):
    a = parse_address(text, "jobs")
    assert (a.host, a.port, a.text) == (host, port, url)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty address"),
    ("auto", "through the dashboard URL"),
    ("ray://head:10001", "through the dashboard URL"),
    ("http://", "the host is missing"),
    ("http://head:99999", "1-65535"),
    ("http://head:8265/api/jobs", "without a path"),
    ("http://user@head:8265", "without a path, query or user"),
    ("ftp://head", "unknown scheme"),
    ("head", "the port is missing"),
])
def test_bad_jobs_addresses_are_one_line_errors(text, fragment):
    with pytest.raises(InputError) as info:
        parse_address(text, "jobs")
    assert fragment in str(info.value) and "http://HEAD:8265" in str(info.value)
