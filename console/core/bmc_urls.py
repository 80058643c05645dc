"""What a BMC's URL in the inventory may look like: https (or http on a lab bench) to a host and port, no
credentials in it, nothing a shell or a log would misread; said in words where it is not."""

from __future__ import annotations

import re
import urllib.parse
from typing import Final

from console.core.names import host_problem

# Matched with fullmatch: a pattern ending in "$" also accepts a trailing line break.


# The usual BMC address (https://host[:port][/path], no user, query or fragment): checked without urlsplit,
# which cost a quarter of a 10,000-node inventory's load. Anything else takes the full check below.
_PLAIN_BMC_URL: Final = re.compile(r"https?://([A-Za-z0-9_.-]+)(?::(\d{1,5}))?(?:/[^?#@\s]*)?")


def bmc_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a BMC's address: https:// (or http://), a host, a port, and no password in it."""
    plain = _PLAIN_BMC_URL.fullmatch(url)
    if plain is not None and host_problem(plain.group(1)) is None and 1 <= int(plain.group(2) or 443) <= 65535:
        return None
    return full_bmc_url_problem(url)


def full_bmc_url_problem(url: str) -> str | None:
    """The whole check, and its words, for any URL (``bmc_url_problem`` takes a quicker way for plain ones)."""
    if not url.startswith(("https://", "http://")):
        return "must start with https://"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a URL: {exc}"
    if parts.username is not None or parts.password is not None:
        return "has a user or password in it: name the user with bmc.user and the password with password_env"
    problem = host_problem(parts.hostname or "")
    if problem:
        return f"has no usable host (the host {problem})"
    if port is not None and not 1 <= port <= 65535:
        return f"has port {port}, not in 1..65535"
    if parts.query or parts.fragment:
        return "has a query or fragment; give the BMC's base address (https://host[:port])"
    return None
