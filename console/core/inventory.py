"""The fleet inventory: a TOML file of nodes, loaded and checked before anything connects.

A bad file is refused as a whole with :class:`InventoryError`, whose message names the file, the line
and node where it can, and the problem — a half-loaded fleet would hide nodes from the operator.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

import tomli

from console.core.bmc_urls import bmc_url_problem
from console.core.names import host_problem, parse_jump, user_problem
from console.core.telemetry.samples import Vendor

# Matched with fullmatch: a pattern ending in "$" also accepts a trailing line break.
NODE_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
NAME_RULE: Final = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
MAX_CONNECT_TIMEOUT_S: Final = 600.0
_VENDORS: Final = {v.value: v for v in Vendor}

_DEFAULT_KEYS: Final = {
    "user": str,
    "identity_file": str,
    "known_hosts": str,
    "port": int,
    "proxy_jump": str,
    "connect_timeout_s": float,
}
_NODE_KEYS: Final = {
    "name": str,
    "host": str,
    "port": int,
    "user": str,
    "identity_file": str,
    "known_hosts": str,
    "vendor": str,
    "rack": str,
    "slot": int,
    "height": int,
    "tenant": str,
    "proxy_jump": str,
    "bmc": dict,
    "slurm_name": str,
}
_BMC_KEYS: Final = {
    "url": str,
    "user": str,
    "password_env": str,
    "ca_file": str,
    "verify_tls": bool,
    "system": str,
}
_SCHEDULER_KEYS: Final = {
    "kind": str,
    "host": str,
    "port": int,
    "user": str,
    "identity_file": str,
    "known_hosts": str,
    "proxy_jump": str,
}
_POLICY_KEYS: Final = {"max_nodes_per_action": int, "max_fraction_per_action": float, "shared_accounts": list}
_TOP_KEYS: Final = {"defaults": dict, "node": list, "scheduler": dict, "policy": dict, "rack": list}
_RACK_KEYS: Final = {"name": str, "row": str, "position": int, "units": int}
MAX_RACK_UNITS: Final = 60
SCHEDULER_KINDS: Final = ("slurm",)
_TYPE_WORDS: Final = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    dict: "a table",
    bool: "true or false",
    list: "a list of tables",
}


class InventoryError(ValueError):
    """The inventory cannot be used. ``str()`` is the message for the operator."""

    def __init__(self, path: Path, problem: str, line: int | None = None, node: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        self.node = node
        where = f"{path}:{line}" if line else str(path)
        who = f" node {node!r}:" if node else ""
        super().__init__(f"{where}:{who} {problem}")


@dataclass(frozen=True, slots=True)
class BmcSpec:
    url: str
    user: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    system: str | None = None  # which ComputerSystem (Id or Name) when the BMC lists several


@dataclass(frozen=True, slots=True)
class Policy:
    max_nodes_per_action: int = 8
    max_fraction_per_action: float = 0.10
    # OS accounts several people log in as: a console run under one asks who is there (the audit's "by whom").
    shared_accounts: tuple[str, ...] = ("root",)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    host: str
    port: int | None = None
    user: str | None = None
    identity_file: Path | None = None
    known_hosts: Path | None = None
    proxy_jump: str | None = None
    vendor: Vendor = Vendor.AUTO
    rack: str | None = None
    slot: int | None = None  # the lowest rack unit the chassis takes
    height: int = 1  # rack units the chassis takes (an 8-GPU server: 4 to 8)
    tenant: str | None = None
    bmc: BmcSpec | None = None
    slurm_name: str | None = None
    connect_timeout_s: float = 10.0
    line: int | None = None

    @property
    def scheduler_name(self) -> str:
        return self.slurm_name or self.name


@dataclass(frozen=True, slots=True)
class RackSpec:
    """A rack's place in the hall (``[[rack]]``): its row and position in the row, and its height."""

    name: str
    row: str | None = None
    position: int | None = None
    units: int = 42


@dataclass(frozen=True, slots=True)
class Inventory:
    path: Path
    nodes: tuple[NodeSpec, ...] = field(default=())
    # The scheduler's control host, reached over SSH like a node (kind "slurm"); None without [scheduler].
    scheduler: NodeSpec | None = None
    policy: Policy = field(default_factory=Policy)
    racks: tuple[RackSpec, ...] = ()
    # SHA-256 of the file's bytes as they were read (None when not read from a file): a rewrite of the file
    # (move-tenant) refuses when the file on disk no longer has these bytes.
    digest: str | None = None

    def rack(self, name: str | None) -> RackSpec | None:
        return next((r for r in self.racks if r.name == name), None) if name else None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(spec.name for spec in self.nodes)

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_inventory(path: str | Path) -> Inventory:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InventoryError(path, "file not found") from None
    except OSError as exc:
        raise InventoryError(path, f"cannot read: {exc.strerror}") from None
    return parse_inventory(decode_inventory(path, raw), path, digest=bytes_digest(raw))


def bytes_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def decode_inventory(path: Path, raw: bytes) -> str:
    """The file's text: UTF-8 (TOML's only encoding), a byte-order mark left out, line endings kept."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_inventory(text: str, path: Path, digest: str | None = None) -> Inventory:
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        line = _line_of_decode_error(exc)
        problem = re.sub(r"\s*\(at line \d+, column \d+\)$", "", str(exc))
        raise InventoryError(path, f"TOML syntax error: {problem}", line=line) from None
    except RecursionError:
        raise InventoryError(path, "arrays or tables are nested too deeply to be an inventory") from None
    locator = _Locator(text)
    base = path.parent

    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise InventoryError(path, _unknown_key(key, _TOP_KEYS), line=locator.table_line(key))
        if not isinstance(value, _TOP_KEYS[key]):
            hint = " (write [[node]] for each node)" if key == "node" else ""
            raise InventoryError(
                path, f"{key!r} must be {_TYPE_WORDS[_TOP_KEYS[key]]}{hint}", line=locator.table_line(key)
            )

    defaults: dict[str, Any] = data.get("defaults", {})

    def default_line(key: str) -> int | None:
        return locator.key_line_in_table("defaults", key)

    _check_keys(path, defaults, _DEFAULT_KEYS, default_line, None, prefix="defaults.")
    _check_connection(path, defaults, default_line, None, prefix="defaults.")
    connect_timeout_s = float(defaults.get("connect_timeout_s", 10.0))

    raw_nodes: list[Any] = data.get("node", [])
    if not raw_nodes:
        raise InventoryError(path, "no nodes: add at least one [[node]] table with name and host")

    nodes: list[NodeSpec] = []
    seen: dict[str, int | None] = {}
    for position, raw in enumerate(raw_nodes):
        node_line = locator.node_line(position)
        if not isinstance(raw, dict):
            raise InventoryError(path, f"node #{position + 1} must be a table", line=node_line)
        label = raw.get("name") if isinstance(raw.get("name"), str) else f"#{position + 1}"

        def key_line(key: str, position: int = position) -> int | None:
            return locator.key_line_in_node(position, key)

        _check_keys(path, raw, _NODE_KEYS, key_line, label)
        for required in ("name", "host"):
            if required not in raw:
                raise InventoryError(path, f"missing required key {required!r}", line=node_line, node=label)
        name: str = raw["name"]
        if not NODE_NAME_RE.fullmatch(name):
            raise InventoryError(path, f"name must be {NAME_RULE}", line=key_line("name"), node=name)
        slurm_name = raw.get("slurm_name")
        if slurm_name is not None and not NODE_NAME_RE.fullmatch(slurm_name):
            raise InventoryError(
                path, f"slurm_name {slurm_name!r} must be {NAME_RULE}", line=key_line("slurm_name"), node=name
            )
        if name in seen:
            first = seen[name]
            where = f" (first defined at line {first})" if first else ""
            raise InventoryError(path, f"duplicate node name{where}", line=node_line, node=name)
        seen[name] = node_line
        _check_connection(path, raw, key_line, name)

        vendor_text = raw.get("vendor", "auto")
        vendor = _VENDORS.get(vendor_text)
        if vendor is None:
            choices = ", ".join(v.value for v in Vendor)
            raise InventoryError(
                path, f"vendor {vendor_text!r} is not one of {choices}", line=key_line("vendor"), node=name
            )

        port = raw.get("port", defaults.get("port"))
        nodes.append(
            NodeSpec(
                name=name,
                host=raw["host"],
                port=port,
                user=raw.get("user", defaults.get("user")),
                identity_file=_path(raw.get("identity_file", defaults.get("identity_file")), base),
                known_hosts=_path(raw.get("known_hosts", defaults.get("known_hosts")), base),
                proxy_jump=raw.get("proxy_jump", defaults.get("proxy_jump")),
                vendor=vendor,
                rack=raw.get("rack"),
                slot=raw.get("slot"),
                height=_height(path, raw, partial(key_line, "height"), name),
                tenant=raw.get("tenant"),
                bmc=_bmc(path, raw.get("bmc"), base, partial(key_line, "bmc"), name),
                slurm_name=slurm_name,
                connect_timeout_s=connect_timeout_s,
                line=node_line,
            )
        )
    return Inventory(
        path=path,
        nodes=tuple(nodes),
        scheduler=_scheduler(path, data.get("scheduler"), defaults, base, locator, connect_timeout_s),
        policy=_policy(path, data.get("policy"), locator),
        racks=_racks(path, data.get("rack", []), locator),
        digest=digest,
    )


def _height(path: Path, raw: Mapping[str, Any], line: Callable[[], int | None], node: str) -> int:
    """``line`` is asked only for a message: finding a key's line in a 10,000-node file is not free."""
    height = raw.get("height", 1)
    if not 1 <= height <= MAX_RACK_UNITS:
        raise InventoryError(
            path, f"height must be 1 to {MAX_RACK_UNITS} rack units, not {height}", line=line(), node=node
        )
    slot = raw.get("slot")
    if slot is not None and slot < 1:
        raise InventoryError(path, f"slot must be a rack unit from 1 up, not {slot}", line=line(), node=node)
    return int(height)


def _racks(path: Path, raw: list[Any], locator: _Locator) -> tuple[RackSpec, ...]:
    """``[[rack]]`` tables: name (required), row, position, units (42)."""
    racks: list[RackSpec] = []
    names: set[str] = set()
    line = locator.table_line("rack")
    for position, table in enumerate(raw):
        if not isinstance(table, dict):
            raise InventoryError(path, f"rack #{position + 1} must be a table", line=line)
        _check_keys(path, table, _RACK_KEYS, lambda _key: line, None, prefix="rack.")
        if "name" not in table:
            raise InventoryError(path, f"rack #{position + 1} needs a name", line=line)
        units = table.get("units", 42)
        if not 1 <= units <= MAX_RACK_UNITS:
            raise InventoryError(path, f"rack {table['name']!r}: units must be 1 to {MAX_RACK_UNITS}", line=line)
        if table["name"] in names:  # a set: 2,000 racks compared pairwise took a second
            raise InventoryError(path, f"rack {table['name']!r} is listed twice", line=line)
        names.add(table["name"])
        racks.append(RackSpec(table["name"], table.get("row"), table.get("position"), units))
    return tuple(racks)


def _scheduler(
    path: Path,
    raw: dict[str, Any] | None,
    defaults: dict[str, Any],
    base: Path,
    locator: _Locator,
    connect_timeout_s: float,
) -> NodeSpec | None:
    if raw is None:
        return None
    _check_keys(
        path, raw, _SCHEDULER_KEYS, lambda key: locator.key_line_in_table("scheduler", key), None, prefix="scheduler."
    )
    line = locator.table_line("scheduler")

    def key_line(key: str) -> int | None:
        return locator.key_line_in_table("scheduler", key)

    kind = raw.get("kind", "slurm")
    if kind not in SCHEDULER_KINDS:
        raise InventoryError(path, f"scheduler.kind {kind!r} is not one of {', '.join(SCHEDULER_KINDS)}", line=line)
    if "host" not in raw:
        raise InventoryError(path, "scheduler needs a host (where scontrol/squeue run)", line=line)
    _check_connection(path, raw, key_line, None, prefix="scheduler.")
    return NodeSpec(
        name="scheduler",
        host=raw["host"],
        port=raw.get("port", defaults.get("port")),
        user=raw.get("user", defaults.get("user")),
        identity_file=_path(raw.get("identity_file", defaults.get("identity_file")), base),
        known_hosts=_path(raw.get("known_hosts", defaults.get("known_hosts")), base),
        proxy_jump=raw.get("proxy_jump", defaults.get("proxy_jump")),
        connect_timeout_s=connect_timeout_s,
        line=line,
    )


def _policy(path: Path, raw: dict[str, Any] | None, locator: _Locator) -> Policy:
    if raw is None:
        return Policy()
    _check_keys(path, raw, _POLICY_KEYS, lambda key: locator.key_line_in_table("policy", key), None, prefix="policy.")
    shared = raw.get("shared_accounts", ["root"])
    if not all(isinstance(name, str) and name for name in shared):
        raise InventoryError(
            path,
            "policy.shared_accounts must be a list of account names",
            line=locator.key_line_in_table("policy", "shared_accounts"),
        )
    policy = Policy(
        max_nodes_per_action=raw.get("max_nodes_per_action", 8),
        max_fraction_per_action=float(raw.get("max_fraction_per_action", 0.10)),
        shared_accounts=tuple(shared),
    )
    if policy.max_nodes_per_action < 1 or not 0 < policy.max_fraction_per_action <= 1:
        raise InventoryError(
            path, "policy limits must be at least 1 node and a fraction in (0, 1]", line=locator.table_line("policy")
        )
    return policy


def _bmc(
    path: Path, raw: Mapping[str, Any] | None, base: Path, line: Callable[[], int | None], node: str
) -> BmcSpec | None:
    if raw is None:
        return None
    if "password" in raw:
        raise InventoryError(
            path,
            "bmc.password is not allowed in the inventory: name an environment variable with password_env",
            line=line(),
            node=node,
        )
    _check_keys(path, raw, _BMC_KEYS, lambda _key: line(), node, prefix="bmc.")
    if "url" not in raw:
        raise InventoryError(path, "bmc needs a url", line=line(), node=node)
    if problem := bmc_url_problem(raw["url"]):
        raise InventoryError(path, f"bmc.url {raw['url']!r} {problem}", line=line(), node=node)
    return BmcSpec(
        url=raw["url"],
        user=raw.get("user"),
        password_env=raw.get("password_env"),
        ca_file=_path(raw.get("ca_file"), base),
        verify_tls=raw.get("verify_tls", True),
        system=raw.get("system"),
    )


def _check_connection(path: Path, table: Mapping[str, Any], line_of: Any, node: str | None, prefix: str = "") -> None:
    """Host, user, port, ProxyJump and timeout of a node, the scheduler or [defaults], checked before any of
    them reaches an SSH config lookup (whose ``Match exec`` would put them into a local shell command)."""
    if "host" in table and (problem := host_problem(table["host"])):
        raise InventoryError(path, f"{prefix}host {table['host']!r} {problem}", line=line_of("host"), node=node)
    if "user" in table and (problem := user_problem(table["user"])):
        raise InventoryError(path, f"{prefix}user {table['user']!r} {problem}", line=line_of("user"), node=node)
    if "port" in table and not 1 <= table["port"] <= 65535:
        raise InventoryError(path, f"{prefix}port {table['port']} is not in 1..65535", line=line_of("port"), node=node)
    if "proxy_jump" in table:
        try:
            parse_jump(table["proxy_jump"])
        except ValueError as exc:
            raise InventoryError(path, f"{prefix}proxy_jump: {exc}", line=line_of("proxy_jump"), node=node) from None
    if "connect_timeout_s" in table:
        value = float(table["connect_timeout_s"])
        if not math.isfinite(value) or not 0 < value <= MAX_CONNECT_TIMEOUT_S:
            raise InventoryError(
                path,
                f"{prefix}connect_timeout_s must be a number of seconds above 0 and at most "
                f"{MAX_CONNECT_TIMEOUT_S:g}, not {value}",
                line=line_of("connect_timeout_s"),
                node=node,
            )


def _check_keys(
    path: Path,
    table: Mapping[str, Any],
    allowed: Mapping[str, type],
    line_of: Any,
    node: str | None,
    prefix: str = "",
) -> None:
    for key, value in table.items():
        expected = allowed.get(key)
        if expected is None:
            raise InventoryError(path, _unknown_key(prefix + key, allowed, prefix), line=line_of(key), node=node)
        if type(value) is expected:
            continue  # the usual case, and exact: a bool is not an int here
        ok = isinstance(value, expected) and not (expected in (int, float) and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise InventoryError(
                path,
                f"{prefix}{key} must be {_TYPE_WORDS[expected]}, not {_describe(value)}",
                line=line_of(key),
                node=node,
            )


def _unknown_key(key: str, allowed: Mapping[str, type], prefix: str = "") -> str:
    names = [prefix + name for name in allowed]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(names)})"
    return f"unknown key {key!r}{hint}"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _path(value: str | None, base: Path) -> Path | None:
    if value is None:
        return None
    return _resolved_path(value, base)


@functools.lru_cache(maxsize=1024)
def _resolved_path(value: str, base: Path) -> Path:
    """Most nodes name the same key and known_hosts files (from [defaults]): each is made into a Path once."""
    expanded = Path(value).expanduser()
    return expanded if expanded.is_absolute() else base / expanded


def _line_of_decode_error(exc: tomli.TOMLDecodeError) -> int | None:
    lineno = getattr(exc, "lineno", None)  # Python 3.14+
    if isinstance(lineno, int):
        return lineno
    match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
    return int(match.group(1)) if match else None


class _Locator:
    """Finds the source line of a table or key, for messages; the TOML parser keeps no positions.

    Only the ``[[node]]`` lines are found up front (one regular-expression pass over the text: each node
    keeps its line); the rest is worked out the first time a message needs it. Lines are counted at "\n",
    as editors count them (CRLF included)."""

    _HEADER_RE: Final = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")
    _NODE_RE: Final = re.compile(r"^[ \t]*\[\[[ \t]*node[ \t]*\]\][ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)

    def __init__(self, text: str) -> None:
        self.text = text
        self._node_starts: list[int] = []
        line, at = 1, 0
        for match in self._NODE_RE.finditer(text):
            line += text.count("\n", at, match.start())
            at = match.start()
            self._node_starts.append(line)

    @functools.cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @functools.cached_property
    def headers(self) -> list[tuple[int, str, bool]]:
        """(line number, name, is array-of-tables) of every table header."""
        found = []
        for number, line in enumerate(self.lines, start=1):
            match = self._HEADER_RE.match(line)
            if match:
                found.append((number, match.group(1).strip(), line.lstrip().startswith("[[")))
        return found

    @functools.cached_property
    def _header_numbers(self) -> list[int]:
        return [number for number, _, _ in self.headers]

    def table_line(self, name: str) -> int | None:
        """The line of the first ``[name]``, ``[[name]]`` or ``[name.…]`` header, else of ``name = …``."""
        key = re.escape(name)
        for pattern in (rf"^[ \t]*\[\[?[ \t]*{key}[ \t]*(?:\.|\])", rf"^[ \t]*{key}[ \t]*="):
            found = re.search(pattern, self.text, re.MULTILINE)
            if found is not None:
                return self.text.count("\n", 0, found.start()) + 1
        return None

    def node_line(self, position: int) -> int | None:
        return self._node_starts[position] if position < len(self._node_starts) else None

    def _block(self, start: int | None) -> range:
        if start is None:
            return range(0)
        following = bisect.bisect_right(self._header_numbers, start)
        end = self._header_numbers[following] if following < len(self._header_numbers) else len(self.lines) + 1
        return range(start + 1, end)

    def _key_in(self, block: range, key: str) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in block:
            if pattern.match(self.lines[number - 1]):
                return number
        return block.start - 1 if len(block) else None

    def key_line_in_node(self, position: int, key: str) -> int | None:
        start = self.node_line(position)
        return self._key_in(self._block(start), key) if start else None

    def key_line_in_table(self, table: str, key: str) -> int | None:
        start = self.table_line(table)
        return self._key_in(self._block(start), key) if start else None
