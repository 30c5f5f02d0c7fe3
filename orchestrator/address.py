"""Cluster addresses as typed on the command line (``--address``, ``RAY_ADDRESS``), parsed and
checked before Ray sees them: Ray answers a malformed address with a traceback.

One parser for every form, pure (no Ray, no network):

- for ``orch run`` (the GCS of a cluster): ``auto``, ``HOST:PORT``, ``ray://HOST[:PORT]``
  (Ray Client), ``[IPv6]:PORT``;
- for ``orch submit`` and ``orch jobs`` (the dashboard's Jobs API): ``http(s)://HOST[:PORT]``
  or ``HOST:PORT`` (read as http).

Hosts are names or IPv4 addresses; IPv6 addresses go in brackets, because ``::1:6379`` does
not say where the address ends and the port begins. Ports are 1-65535.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from orchestrator.errors import InputError

__all__ = ["Address", "parse_address"]

Purpose = Literal["cluster", "jobs"]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$")
_EXAMPLE = {
    "cluster": "auto (on a node of the cluster), HEAD:6379 (the head node's GCS) or ray://HEAD:10001",
    "jobs": "http://HEAD:8265 (the head node's dashboard)",
}


@dataclass(frozen=True)
class Address:
    """A checked address. ``text`` is what Ray is given; ``host``/``port`` are None for ``auto``
    (``port`` also where the scheme's default applies)."""

    scheme: Literal["auto", "gcs", "ray", "http", "https"]
    host: str | None
    port: int | None
    text: str


def parse_address(text: str | None, purpose: Purpose, flag: str = "--address") -> Address:
    """Check ``text`` as an address for ``purpose``; raise :class:`InputError` naming the
    problem and an example of the right form."""
    if text is None or not text.strip():
        raise InputError(f"{flag}: empty address; expected {_EXAMPLE[purpose]}")
    raw = text.strip()

    def fail(problem: str) -> InputError:
        return InputError(f"{flag} {raw!r}: {problem}; expected {_EXAMPLE[purpose]}")

    if any(c.isspace() for c in raw):
        raise fail("an address has no spaces")
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "", raw
    scheme = scheme.lower()
    if purpose == "cluster":
        if raw.lower() == "auto":
            return Address("auto", None, None, "auto")
        if scheme in ("http", "https"):
            raise fail(f"a dashboard (Jobs API) URL is for `orch submit` and `orch jobs`; `orch run` "
                       f"joins the GCS, HEAD:6379 (or run it as a job: orch submit CONFIG {flag} {raw})")
        if scheme not in ("", "ray"):
            raise fail(f"unknown scheme {scheme + '://'!r}")
        host, port = _host_port(rest, fail, port_required=scheme == "")
        return Address("ray" if scheme else "gcs", host, port, raw)
    if raw.lower() == "auto" or scheme == "ray":
        raise fail("the Jobs API is reached through the dashboard URL")
    if scheme not in ("", "http", "https"):
        raise fail(f"unknown scheme {scheme + '://'!r}")
    host, port = _host_port(rest.rstrip("/") if scheme else rest, fail, port_required=scheme == "")
    return Address(scheme or "http", host, port, raw if scheme else f"http://{raw}")


def _host_port(text: str, fail, port_required: bool) -> tuple[str, int | None]:  # type: ignore[no-untyped-def]
    if "/" in text or "?" in text or "#" in text or "@" in text:
        raise fail("expected HOST:PORT only, without a path, query or user")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise fail("an IPv6 address opened with '[' needs its ']'")
        host, after = text[1:end], text[end + 1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise fail(f"{host!r} is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise fail("expected ':PORT' after the IPv6 address")
        port_text = after[1:] if after else None
    elif text.count(":") > 1:
        raise fail("an IPv6 address goes in brackets, e.g. [::1]:6379")
    else:
        host, sep, port_text = text.partition(":")
        if not sep:
            port_text = None
        if not host:
            raise fail("the host is missing")
        if not _HOSTNAME.match(host):
            raise fail(f"{host!r} is not a host name or IP address")
    if port_text is None:
        if port_required:
            raise fail("the port is missing")
        return host, None
    if not port_text.isdigit() or not port_text.isascii():
        raise fail(f"the port must be a number, got {port_text!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise fail(f"the port must be in 1-65535, got {port}")
    return host, port
