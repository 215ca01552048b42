"""Each attempt connects to the address that was checked, keeping the name for Host and TLS (no rebinding)."""

from videos.net.url_guard import check_url
from videos.webhooks.sender import _target


def test_a_name_is_pinned_to_its_checked_address_with_host_and_sni_kept():
    checked = check_url("https://hooks.example.com/in?x=1", resolver=lambda host, port: ["93.184.216.34"])
    url, headers, extensions = _target(checked)
    assert url == "https://93.184.216.34/in?x=1"
    assert headers == {"host": "hooks.example.com"} and extensions == {"sni_hostname": "hooks.example.com"}


def test_ipv6_and_ports_survive_the_pinning():
    checked = check_url("http://[::1]:8080/h", allow_private=True)
    url, headers, extensions = _target(checked)
    assert url == "http://[::1]:8080/h" and headers == {"host": "[::1]:8080"} and extensions == {}
