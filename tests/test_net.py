"""The one place that says where a URL points: loopback by its spelling, or this machine."""

from __future__ import annotations

import socket

import pytest

from zorac_tui.net import host_and_port, is_loopback, is_this_machine

LOOPBACK = [
    "http://localhost:8000/v1", "http://LOCALHOST.:8000", "http://127.0.0.1:8000/v1", "http://127.1.2.3:8000",
    "http://[::1]:8000/v1", "localhost:8000", "http://0.0.0.0:8000", "http://[::ffff:127.0.0.1]:8000",
    "https://localhost/v1", "http://api.localhost:8000", "http://[::]:9400/metrics",
]
ELSEWHERE = [
    "http://192.0.2.10:8000/v1", "http://[2001:db8::1]:8000", "https://api.openai.com/v1",
    "http://gpu-box.invalid:8000", "", "http://:8000", "http://127.example.com:8000",
]


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_urls_are_loopback_and_this_machine(url):
    assert is_loopback(url)
    assert is_this_machine(url)


@pytest.mark.parametrize("url", ELSEWHERE)
def test_other_urls_are_neither(url):
    assert not is_loopback(url)
    assert not is_this_machine(url)


def test_own_hostname_and_address_are_this_machine_but_not_loopback():
    name = socket.gethostname()
    assert is_this_machine(f"http://{name}:8000/v1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
        except OSError:
            pytest.skip("no IPv4 route on this machine")
        own = s.getsockname()[0]
    assert is_this_machine(f"http://{own}:8000/v1")
    assert not is_loopback(f"http://{own}:8000/v1")  # a LAN address may need the proxy settings


@pytest.mark.parametrize(("url", "expected"), [
    ("http://GPUBOX.:9400/metrics", ("gpubox", 9400)), ("gpubox", ("gpubox", 80)), ("https://h/v1", ("h", 443)),
    ("http://[::1]:8000", ("::1", 8000)), ("http://h:notaport/", ("h", 80)), ("", (None, 80)),
])
def test_host_and_port(url, expected):
    assert host_and_port(url) == expected
