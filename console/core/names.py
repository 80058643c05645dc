"""What a host name, a user name, a ProxyJump hop and an operator name may look like.

These checks run before any text from the inventory or the command line reaches ``~/.ssh/config``
lookups, an SSH connection, Slurm's Reason or the audit log. ``Match exec`` lines in an SSH config expand
``%h``, ``%r`` and ``%u`` into a local shell command (paramiko runs it through ``invoke``), so a host
such as ``x;touch /tmp/pwned`` would run a command on the operator's machine — the same class of bug as
OpenSSH's CVE-2023-51385, which OpenSSH fixed the same way: refuse names with shell characters.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Final

# RFC 1123 labels; '_' is tolerated because real fleets have such names in /etc/hosts and ssh_config.
_LABEL: Final = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOSTNAME_RE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# POSIX portable user names (and what useradd accepts), without the shell's '$' or any other punctuation.
USER_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
MAX_HOST: Final = 253
MAX_OPERATOR: Final = 64


def host_problem(text: str) -> str | None:
    """Why ``text`` is not a host name or an IP address (None when it is one)."""
    if not text:
        return "is empty"
    if len(text) > MAX_HOST:
        return f"is {len(text)} characters long; a host name has at most {MAX_HOST}"
    if HOSTNAME_RE.fullmatch(text):
        return None  # a name, or an IPv4 address (digits and dots are a name's characters too)
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(candidate)  # IPv6, bracketed or not
        return None
    except ValueError:
        pass
    return "is not a host name or an IP address (letters, digits, '-', '_' and '.' only)"


def user_problem(text: str) -> str | None:
    """Why ``text`` is not a plain user name (None when it is one)."""
    if USER_RE.fullmatch(text):
        return None
    return "is not a user name (1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-')"


@dataclass(frozen=True, slots=True)
class JumpHop:
    """One ``[user@]host[:port]`` of a ProxyJump list."""

    user: str | None
    host: str
    port: int | None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{user}{host}{port}"


@functools.lru_cache(maxsize=256)
def parse_jump(text: str) -> tuple[JumpHop, ...]:
    """``user@host:port,host2`` → hops, every part checked; ``ValueError`` says which hop and why.

    ``none`` (OpenSSH's way to turn off a ProxyJump from the config) gives no hops. Kept per text: a fleet's
    nodes go through a few bastions, and a 10,000-node inventory named them 10,000 times."""
    if text.strip().lower() == "none":
        return ()
    hops = []
    for raw in text.split(","):
        hop = raw.strip()
        if not hop:
            raise ValueError(f"ProxyJump {text!r} has an empty hop")
        user, at, rest = hop.rpartition("@")
        if at and (problem := user_problem(user)):
            raise ValueError(f"ProxyJump hop {hop!r}: user {user!r} {problem}")
        host, port_text = rest, None
        if rest.startswith("["):
            host, bracket, tail = rest[1:].partition("]")
            if not bracket or (tail and not tail.startswith(":")):
                raise ValueError(f"ProxyJump hop {hop!r}: write an IPv6 address as [address]:port")
            port_text = tail[1:] if tail else None
        elif rest.count(":") == 1:
            host, port_text = rest.split(":")
        if problem := host_problem(host):
            raise ValueError(f"ProxyJump hop {hop!r}: host {host!r} {problem}")
        port = None
        if port_text is not None:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise ValueError(f"ProxyJump hop {hop!r}: port {port_text!r} is not a number in 1..65535")
            port = int(port_text)
        hops.append(JumpHop(user or None, host, port))
    return tuple(hops)


def text_problem(label: str, text: str) -> str | None:
    """Why free text (a reason, a ticket, an operator name) cannot go into Slurm's Reason or the audit log:
    a line break splits ``sinfo -R`` and ``scontrol show node -o`` for everyone, and control characters
    (terminal escapes) rewrite the screen of whoever reads them."""
    if any(ch in text for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        return (
            f"the {label} has a line break: Slurm keeps it, but it breaks `scontrol show node -o` and sinfo "
            "for everyone; write it on one line"
        )
    if any(not ch.isprintable() for ch in text):
        return f"the {label} has control characters (such as terminal escapes); use plain text"
    return None


def operator_problem(name: str) -> str | None:
    """Why ``name`` cannot be the operator's name in Slurm's Reason and the audit log (None when it can)."""
    if not name.strip():
        return "the operator name is empty: set --operator or $FLEET_CONSOLE_OPERATOR"
    if problem := text_problem("operator name", name):
        return problem
    if len(name) > MAX_OPERATOR:
        return f"the operator name is {len(name)} characters; keep it under {MAX_OPERATOR}"
    if ":" in name:
        return "the operator name has a ':', which the console uses to separate it from the reason in Slurm"
    return None
