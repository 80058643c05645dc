"""Hostile and broken inventories: refused in words (file, line, node), never a traceback, never a command."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from console.core.inventory import InventoryError, NodeSpec, parse_inventory
from console.core.names import operator_problem, parse_jump
from console.transport.ssh import ConnectError, SshSettings, resolve


def _refused(text: str, tmp_path: Path) -> str:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, tmp_path / "fleet.toml")
    message = str(caught.value)
    assert str(tmp_path / "fleet.toml") in message
    return message


def _node(extra: str = "", name: str = "n1", host: str = "10.0.0.1") -> str:
    return f'[[node]]\nname = "{name}"\nhost = "{host}"\n{extra}'


@pytest.mark.parametrize(
    "host",
    [
        "x;touch /tmp/pwned",
        "$(reboot)",
        "`id`",
        "a b",
        "-oProxyCommand=sh",
        "host\\nname",
        "",
        " ",
    ],
)
def test_a_host_with_shell_characters_is_refused_with_its_line(host: str, tmp_path: Path) -> None:
    message = _refused(_node(host=host.replace("\\", "\\\\")), tmp_path)
    assert ":3:" in message and "node 'n1'" in message and "host" in message


@pytest.mark.parametrize("host", ["10.0.0.1", "gpu-a01.dc1.example.com", "fe80::1", "[2001:db8::1]", "node_7"])
def test_host_names_and_addresses_are_accepted(host: str, tmp_path: Path) -> None:
    assert parse_inventory(_node(host=host), tmp_path / "f.toml").nodes[0].host == host


@pytest.mark.parametrize("user", ["root;id", "a b", "$USER", "-l", "ops\\n"])
def test_a_user_that_is_not_a_user_name_is_refused(user: str, tmp_path: Path) -> None:
    message = _refused(_node(f'user = "{user}"\n'), tmp_path)
    assert "user" in message and ":4:" in message


@pytest.mark.parametrize(
    ("jump", "words"),
    [
        ("bastion:abc", "port 'abc'"),
        ("bastion:0", "port '0'"),
        ("x;id@bastion", "user"),
        ("ops@$(id)", "host"),
        ("a,,b", "empty hop"),
        ("[fe80::1", "IPv6"),
    ],
)
def test_a_bad_proxy_jump_is_refused_in_words(jump: str, words: str, tmp_path: Path) -> None:
    message = _refused(_node(f'proxy_jump = "{jump}"\n'), tmp_path)
    assert words in message and "proxy_jump" in message


def test_proxy_jump_hops_parse_with_users_ports_and_ipv6() -> None:
    hops = parse_jump("ops@bastion.dc1:2222, [fe80::1]:22,jump2")
    assert [(h.user, h.host, h.port) for h in hops] == [
        ("ops", "bastion.dc1", 2222),
        (None, "fe80::1", 22),
        (None, "jump2", None),
    ]
    assert str(hops[1]) == "[fe80::1]:22"
    assert parse_jump("none") == ()


def test_a_node_name_ending_in_a_line_break_is_refused(tmp_path: Path) -> None:
    assert "name must be" in _refused(_node(name="gpu1\\n"), tmp_path)


def test_a_slurm_name_with_shell_or_list_characters_is_refused(tmp_path: Path) -> None:
    for bad in ("a,b", "n[1-4]", "x y", "n1\\n"):
        assert "slurm_name" in _refused(_node(f'slurm_name = "{bad}"\n'), tmp_path)


def test_deeply_nested_arrays_are_refused_without_a_recursion_error(tmp_path: Path) -> None:
    text = _node() + "rack = " + "[" * 5000 + "]" * 5000 + "\n"
    assert "nested" in _refused(text, tmp_path) or "must be" in _refused(text, tmp_path)


@pytest.mark.parametrize(
    ("scheduler", "words"),
    [
        ('host = "ctl"\nport = -1', "port -1"),
        ('host = ""', "host '' is empty"),
        ('host = "ctl;id"', "scheduler.host"),
        ('host = "ctl"\nproxy_jump = "b:x"', "scheduler.proxy_jump"),
    ],
)
def test_a_bad_scheduler_is_refused(scheduler: str, words: str, tmp_path: Path) -> None:
    assert words in _refused(_node() + f"[scheduler]\n{scheduler}\n", tmp_path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e9"])
def test_a_connect_timeout_that_is_not_a_sane_number_of_seconds_is_refused(value: str, tmp_path: Path) -> None:
    assert "connect_timeout_s" in _refused(f"[defaults]\nconnect_timeout_s = {value}\n" + _node(), tmp_path)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://admin:secret@10.0.0.9", "password"),
        ("https://", "no usable host"),
        ("https://bmc;id", "no usable host"),
        ("https://bmc:99999", "not a URL"),
        ("ftp://bmc", "https://"),
    ],
)
def test_a_bmc_url_that_is_not_a_plain_https_origin_is_refused(url: str, words: str, tmp_path: Path) -> None:
    assert words in _refused(_node(f'bmc = {{ url = "{url}" }}\n'), tmp_path)


def test_ten_thousand_nodes_load_in_linear_time(tmp_path: Path) -> None:
    """Not a timing assertion: the loader's line lookups are counted, and must grow with the file, not its
    square (they were quadratic: 10,000 nodes took 11 s)."""
    small = "".join(_node(name=f"n{i}", host=f"10.0.{i // 250}.{i % 250 + 1}") for i in range(1000))
    big = "".join(_node(name=f"n{i}", host=f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}") for i in range(10000))
    times = []
    for text in (small, big):
        started = time.process_time()
        assert len(parse_inventory(text, tmp_path / "f.toml").nodes) in (1000, 10000)
        times.append(time.process_time() - started)
    # Linear: ten times the nodes cost about ten times the work; quadratic would be a hundred times.
    assert times[1] < times[0] * 40 + 0.5


def test_match_exec_never_runs_with_a_hostile_host(tmp_path: Path) -> None:
    """The CVE-2023-51385 class: a `Match exec` line expands %h into a local shell command. A host with shell
    characters is refused before the lookup, so the command never runs."""
    marker = tmp_path / "pwned"
    config = tmp_path / "ssh_config"
    config.write_text(f'Match exec "test %h = never"\n  User nobody\nHost *\n  User ops\n# {marker}\n')
    hostile = f"x$(touch {marker})"
    spec = NodeSpec(name="n1", host=hostile)
    with pytest.raises(ConnectError) as caught:
        resolve(spec, SshSettings(ssh_config=config, known_hosts=tmp_path / "kh"))
    assert "n1" in caught.value.message and "host" in caught.value.message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("alice\nbob", "line break"),
        ("alice\x1b]0;owned\x07", "control characters"),
        ("", "empty"),
        ("a" * 100, "characters"),
        ("alice: fixed it", "':'"),
    ],
)
def test_an_operator_name_follows_the_rules_of_reasons(name: str, words: str) -> None:
    problem = operator_problem(name)
    assert problem is not None and words in problem
    assert operator_problem("alice.smith") is None
