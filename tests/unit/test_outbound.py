"""The outbound address policy, given resolved addresses."""

from __future__ import annotations

import pytest

from engine.core.outbound import destination_refusal, parse_allowlist

DEFAULT = parse_allowlist(None)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "fd00::1",
        "0.0.0.0",
        "::",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    reason = destination_refusal("example.org", [address], DEFAULT)
    assert reason is not None and reason.startswith("blocked_destination")


def test_public_addresses_pass() -> None:
    assert (
        destination_refusal(
            "example.org", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], DEFAULT
        )
        is None
    )


def test_one_internal_address_among_public_ones_refuses_the_call() -> None:
    assert destination_refusal("rebind.example", ["93.184.215.14", "127.0.0.1"], DEFAULT) is not None


def test_unresolved_names_are_refused() -> None:
    assert destination_refusal("nowhere.invalid", [], DEFAULT) is not None


def test_allowlist_opens_networks_and_host_names() -> None:
    policy = parse_allowlist(" 127.0.0.1 , 10.0.0.0/8,Sink.Local., ")
    assert destination_refusal("localhost", ["127.0.0.1"], policy) is None
    assert destination_refusal("svc", ["10.9.8.7"], policy) is None
    assert destination_refusal("sink.local", ["192.168.0.5"], policy) is None
    assert destination_refusal("other", ["192.168.0.5"], policy) is not None
    assert destination_refusal("localhost", ["127.0.0.2"], policy) is not None


@pytest.mark.parametrize(
    "entry", ["10.0.0.0/33", "::1/129", "http://sink.local/", "sink local", "a..b", "-x", "h:80"]
)
def test_an_allowlist_entry_that_opens_nothing_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="is neither a host name"):
        parse_allowlist(f"127.0.0.1,{entry}")


def test_allowlist_accepts_bracketed_ipv6_and_underscored_names() -> None:
    policy = parse_allowlist("[::1], fd00::/8, my_svc.internal")
    assert destination_refusal("x", ["::1"], policy) is None
    assert destination_refusal("x", ["fd00::5"], policy) is None
    assert destination_refusal("MY_SVC.internal", ["10.1.1.1"], policy) is None
