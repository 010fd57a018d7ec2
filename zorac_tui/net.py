"""Where a URL points: its host and port, whether it is loopback, and whether it is this machine.

The one place these rules live: the client (proxies are skipped for loopback), the GPU sources
(NVML only describes this machine's GPUs) and the exporter sampler all ask here.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit


def host_and_port(url: str) -> tuple[str | None, int]:
    """Host (lower case, no trailing dot) and port of a URL; scheme optional, default port by scheme."""
    parts = urlsplit(url.strip() if "://" in url else f"http://{url.strip()}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    host = parts.hostname.rstrip(".").lower() if parts.hostname else None
    return host or None, port


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a host string spells (an IPv6 zone id dropped), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _loopback_host(host: str) -> bool:
    """Loopback by its spelling alone: localhost names, 127/8, ::1, 0.0.0.0/:: and their IPv4-mapped forms."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _address(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def is_loopback(url: str) -> bool:
    """True when the URL's host is loopback by its spelling (no lookups, no I/O): proxies never apply."""
    host, _port = host_and_port(url)
    return host is not None and _loopback_host(host)


def _is_own_address(address: str) -> bool:
    """True when this host owns `address`: binding to a foreign address fails."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False


def is_this_machine(url: str) -> bool:
    """True when the URL points at this machine: loopback, this host's name, or one of its addresses."""
    host, _port = host_and_port(url)
    if not host:
        return False
    if _loopback_host(host):
        return True
    address = _address(host)
    if address is None:
        own = socket.gethostname().lower()
        return host in {own, own.split(".", 1)[0]}
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _is_own_address(str(address.ipv4_mapped))
    return _is_own_address(str(address))

def api_base(base_url: str) -> str:
    """The OpenAI-style API root: trailing slash removed, `/v1` appended to a bare host URL."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "/v1", "", ""))
    return url


def server_root(base_url: str) -> str:
    """The server root that carries /health, /version, /metrics, /tokenize (a trailing /v1 removed)."""
    url = api_base(base_url)
    return url[: -len("/v1")] if url.endswith("/v1") else url
