"""The inventory: the documented example loads; every kind of bad file is refused with file, line, node, problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.inventory import InventoryError, load_inventory, parse_inventory
from console.core.telemetry.samples import Vendor

EXAMPLE = """
[defaults]
user = "ops"
identity_file = "~/.ssh/id_ed25519"   # optional; agent and ~/.ssh/config are honoured too
known_hosts = "~/.ssh/known_hosts"    # optional
[[node]]
name = "gpu-a01"                      # unique
host = "10.0.0.11"
port = 22                              # optional
vendor = "nvidia"                      # nvidia | ascend | amd | auto (default auto)
rack = "R12"                           # optional: rack, slot (U), tenant, proxy_jump, bmc, slurm_name
slot = 17
tenant = "acme"

[[node]]
name = "gpu-a02"
host = "gpu-a02.dc1"
proxy_jump = "ops@bastion.dc1:2222"
bmc = { url = "https://10.1.0.12", user = "admin", password_env = "BMC_A02_PASSWORD" }
slurm_name = "a02"
"""


def _refused(text: str, tmp_path: Path) -> InventoryError:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_the_readme_example_loads(tmp_path: Path) -> None:
    inventory = parse_inventory(EXAMPLE, tmp_path / "fleet.toml")
    a01, a02 = inventory.nodes
    assert (a01.name, a01.host, a01.port, a01.user, a01.vendor) == ("gpu-a01", "10.0.0.11", 22, "ops", Vendor.NVIDIA)
    assert (a01.rack, a01.slot, a01.tenant) == ("R12", 17, "acme")
    assert a01.identity_file == Path("~/.ssh/id_ed25519").expanduser()
    assert a01.line == 6
    assert a02.vendor is Vendor.AUTO and a02.port is None
    assert a02.proxy_jump == "ops@bastion.dc1:2222"
    assert a02.bmc is not None and a02.bmc.password_env == "BMC_A02_PASSWORD" and a02.bmc.verify_tls
    assert a02.scheduler_name == "a02" and a01.scheduler_name == "gpu-a01"


def test_relative_paths_are_relative_to_the_inventory_file(tmp_path: Path) -> None:
    inventory = parse_inventory(
        '[defaults]\nknown_hosts = "keys/known_hosts"\n[[node]]\nname = "n1"\nhost = "h"\n', tmp_path / "f.toml"
    )
    assert inventory.nodes[0].known_hosts == tmp_path / "keys" / "known_hosts"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "n1"\nhost = "10.0.0.1\nport = 22\n', tmp_path)
    assert error.line == 3
    assert ":3: TOML syntax error" in str(error)


def test_duplicate_name_names_both_lines_and_the_node(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "n1"\nhost = "a"\n\n[[node]]\nname = "n1"\nhost = "b"\n', tmp_path)
    assert error.line == 5 and error.node == "n1"
    assert "duplicate node name (first defined at line 1)" in str(error)


def test_unknown_key_is_refused_with_a_suggestion_and_its_line(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "n1"\nhost = "a"\nvendr = "nvidia"\n', tmp_path)
    assert error.line == 4 and error.node == "n1"
    assert "unknown key 'vendr' (did you mean 'vendor'?)" in str(error)


def test_unknown_top_level_table_is_refused(tmp_path: Path) -> None:
    error = _refused('[nodes]\nx = 1\n[[node]]\nname = "n1"\nhost = "a"\n', tmp_path)
    assert error.line == 1 and "unknown key 'nodes'" in str(error)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('port = "22"', "port must be a whole number, not the string '22'"),
        ("port = true", "port must be a whole number, not true (true/false)"),
        ("slot = 1.5", "slot must be a whole number, not the number 1.5"),
        ("tenant = 3", "tenant must be a string, not the number 3"),
        ('vendor = "intel"', "vendor 'intel' is not one of nvidia, ascend, amd, auto"),
        ("port = 70000", "port 70000 is not in 1..65535"),
    ],
)
def test_wrong_types_and_values_are_refused_with_the_key(tmp_path: Path, line: str, words: str) -> None:
    error = _refused(f'[[node]]\nname = "n1"\nhost = "a"\n{line}\n', tmp_path)
    assert words in str(error)
    assert error.line == 4 and error.node == "n1"


def test_missing_host_names_the_node(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "n1"\n', tmp_path)
    assert "missing required key 'host'" in str(error) and error.node == "n1"


def test_node_without_name_is_called_by_its_position(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "ok"\nhost = "a"\n[[node]]\nhost = "b"\n', tmp_path)
    assert error.node == "#2" and error.line == 4


def test_bad_node_names_are_refused(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "a b;rm"\nhost = "a"\n', tmp_path)
    assert "name must be 1-63 letters" in str(error)


def test_a_password_in_the_file_is_refused(tmp_path: Path) -> None:
    error = _refused('[[node]]\nname = "n1"\nhost = "a"\nbmc = { url = "https://b", password = "hunter2" }\n', tmp_path)
    assert "password_env" in str(error)
    assert "hunter2" not in str(error)


def test_empty_inventory_is_refused(tmp_path: Path) -> None:
    assert "no nodes" in str(_refused("[defaults]\nuser = 'ops'\n", tmp_path))


def test_node_written_as_a_single_table_is_explained(tmp_path: Path) -> None:
    assert "write [[node]] for each node" in str(_refused('[node]\nname = "n"\nhost = "a"\n', tmp_path))


def test_missing_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="file not found"):
        load_inventory(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[[node]]\nname = "n\xe9"\n')
    with pytest.raises(InventoryError, match="not UTF-8"):
        load_inventory(bad)


# --- a 10,000-node inventory loads in a fraction of a second (issue 21.12): its quick paths agree ----------

URL_PIECES = st.sampled_from(
    ["https://", "http://", "ftp://", "bmc-1", "10.0.0.1", "[::1]", ":443", ":0", ":99999", ":8443", "/redfish/v1",
     "?x=1", "#f", "@", "u:p@", " ", "-", "_", ".", "%20", "\u202e", "é", ";", "bmc", "..", ":"]
)  # fmt: skip


@given(st.lists(URL_PIECES, min_size=1, max_size=6).map("".join))
def test_the_quick_bmc_url_check_accepts_only_what_the_whole_check_accepts(url: str) -> None:
    from console.core.bmc_urls import bmc_url_problem, full_bmc_url_problem

    assert (bmc_url_problem(url) is None) == (full_bmc_url_problem(url) is None), url


HOST_PIECES = st.sampled_from(
    ["10", ".", "0", "255", "256", "a", "-", "_", ":", "[", "]", "::1", "fe80::1", "x" * 63, "é", ";", " ", "%"]
)


@given(st.lists(HOST_PIECES, min_size=1, max_size=8).map("".join))
def test_host_names_and_addresses_are_judged_the_same_whichever_check_runs_first(text: str) -> None:
    import ipaddress

    from console.core.names import HOSTNAME_RE, MAX_HOST, host_problem

    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(candidate)
        address = True
    except ValueError:
        address = False
    expected_ok = bool(text) and len(text) <= MAX_HOST and (address or HOSTNAME_RE.fullmatch(text) is not None)
    assert (host_problem(text) is None) == expected_ok, text


def test_two_thousand_racks_and_ten_thousand_nodes_load_with_each_key_as_written(tmp_path: Path) -> None:
    from bench.inventory import realistic_inventory

    path = tmp_path / "fleet.toml"
    path.write_text(realistic_inventory(10_000))
    inventory = load_inventory(path)
    assert len(inventory.nodes) == 10_000 and len(inventory.racks) == 1_251
    node = inventory.node("gpu-09999")
    assert (node.host, node.rack, node.slot, node.height, node.tenant) == ("10.0.39.15", "R1249", 36, 5, "tenant-09")
    assert node.bmc is not None and node.bmc.url == "https://10.200.39.15" and node.bmc.password_env == "BMC_PW"
    assert node.proxy_jump == "ops@bastion-a.dc1.example.net:2222" and node.line == path.read_text().count("\n") - 8
