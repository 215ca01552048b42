"""Each attempt connects to the address that was checked, keeping the name for Host and TLS (no rebinding)."""

from videos.net.url_guard import check_url
from videos.webhooks.transport import pinned_target


def test_a_name_is_pinned_to_its_checked_address_with_host_and_sni_kept():
    checked = check_url("https://hooks.example.com/in?x=1", resolver=lambda host, port: ["93.184.216.34"])
    target = pinned_target(checked)
    assert (target.scheme, target.address, target.port, target.path) == ("https", "93.184.216.34", 443, "/in?x=1")
    assert target.host == "hooks.example.com" and target.sni == "hooks.example.com"


def test_ipv6_and_ports_survive_the_pinning():
    checked = check_url("http://[::1]:8080/h", allow_private=True)
    target = pinned_target(checked)
    assert (target.address, target.port, target.path) == ("::1", 8080, "/h")
    assert target.host == "[::1]:8080" and target.sni is None


def test_an_empty_path_is_the_root():
    checked = check_url("http://127.0.0.1:9000", allow_private=True)
    target = pinned_target(checked)
    assert target.host == "127.0.0.1:9000" and target.path == "/"
