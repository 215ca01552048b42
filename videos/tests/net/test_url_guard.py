"""The SSRF guard: every non-public address class is refused, names are checked by what they resolve to."""

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.net.url_guard import UnsafeURLError, check_url, guarded_connection, non_public_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
    ],
)
def test_each_non_public_class_is_named(address, reason):
    assert non_public_reason(address) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert non_public_reason(address) is None


@given(st.ip_addresses(v=4, network="10.0.0.0/8") | st.ip_addresses(v=4, network="192.168.0.0/16"))
def test_every_rfc1918_address_is_private(ip):
    assert non_public_reason(str(ip)) == "private"


def stub(*addresses: str):  # noqa: ANN201
    calls = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return list(addresses)

    resolve.calls = calls
    return resolve


def test_a_name_is_judged_by_every_address_it_resolves_to():
    resolver = stub("93.184.216.34", "10.1.2.3")  # one bad answer is enough to refuse
    with pytest.raises(UnsafeURLError, match=r"hooks\.example\.com \(10\.1\.2\.3\) is a private address"):
        check_url("https://hooks.example.com/in", resolver=resolver)
    assert resolver.calls == [("hooks.example.com", 443)]


def test_a_public_name_passes_with_its_addresses_for_the_connection():
    checked = check_url("http://hooks.example.com:8080/x", resolver=stub("93.184.216.34"))
    assert (checked.scheme, checked.host, checked.port, checked.addresses) == (
        "http",
        "hooks.example.com",
        8080,
        ("93.184.216.34",),
    )


def test_metadata_address_by_name_is_refused():
    with pytest.raises(UnsafeURLError, match="link-local"):
        check_url("http://metadata.internal/latest", resolver=stub("169.254.169.254"))


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "//example.com", "http://", "http://u:p@example.com/"],
)
def test_only_plain_http_and_https_urls(url):
    with pytest.raises(UnsafeURLError):
        check_url(url, resolver=stub("93.184.216.34"))


def test_private_networks_switch_allows_loopback_but_never_unspecified_or_multicast():
    assert check_url("http://127.0.0.1:9/x", allow_private=True).addresses == ("127.0.0.1",)
    assert check_url("http://[::1]:9/x", allow_private=True).addresses == ("::1",)
    for url in ("http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(UnsafeURLError):
            check_url(url, allow_private=True)
    with pytest.raises(UnsafeURLError, match="loopback"):
        check_url("http://127.0.0.1:9/x")


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeURLError, match="does not resolve"):
        check_url("http://nowhere.example/", resolver=stub())


def test_guarded_connection_refuses_before_connecting_when_any_address_is_private():
    resolver = stub("93.184.216.34", "10.1.2.3")
    with pytest.raises(UnsafeURLError, match=r"media\.example \(10\.1\.2\.3\) is a private address"):
        guarded_connection(("media.example", 80), 1.0, resolver=resolver)
    assert resolver.calls == [("media.example", 80)]


def test_guarded_connection_connects_to_the_address_it_checked():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        resolver = stub("127.0.0.1")  # the name is never resolved a second time by anyone else
        with guarded_connection(("media.example", port), 2.0, allow_private=True, resolver=resolver) as sock:
            assert sock.getpeername() == ("127.0.0.1", port)
        with pytest.raises(UnsafeURLError, match="loopback"):
            guarded_connection(("media.example", port), 2.0, resolver=resolver)
