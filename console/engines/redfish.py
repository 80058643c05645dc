"""A node's BMC over Redfish: power state, ComputerSystem.Reset (only the ResetType values the BMC lists as
allowable), and the locate LED (IndicatorLED, or LocationIndicatorActive on newer BMCs).

TLS is verified by default (a per-BMC CA file may be named); ``verify_tls = false`` is an explicit opt-out
that every preview shows. The password comes from the environment variable the inventory names.

The password goes only to the BMC's own origin (scheme, host and port of the inventory's URL): redirects
are not followed, links the BMC hands out (``@odata.id``, action targets) that name another origin are not
requested, and no proxy from the environment is used. A hostile or misconfigured BMC that points
elsewhere gets a refusal naming the BMC, the refused target and why.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Final

from console.core.actions.planning import HttpCall
from console.core.inventory import BmcSpec
from console.core.parsers.common import excerpt

TIMEOUT_S: Final = 10.0
LED_VALUES: Final = {"on": "Lit", "off": "Off", "blink": "Blinking"}


EVENT_LOG_LIMIT: Final = 200
EVENT_LOG_SERVICES: Final = 4
EVENT_LOG_SCAN: Final = 5000  # entries looked at per log service (the newest), however many the BMC lists
EVENT_LOG_DEADLINE_S: Final = 20.0


class BmcError(RuntimeError):
    """The BMC could not be reached or refused; the message says which and why."""


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in; ``ValueError`` if it has none."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the 3xx it is (an HTTPError), never followed with the password."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class _CallDeadline:
    """A deadline for one whole HTTP call: urllib's timeout bounds each socket read, so a BMC that trickles
    a byte every few seconds would hold the call for ever; at the deadline its sockets are shut down."""

    current = threading.local()

    def __init__(self, timeout_s: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _CallDeadline:
        _CallDeadline.current.value = self
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()
        _CallDeadline.current.value = None

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            if self.fired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _tracked(kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
    """The connection class for urllib, with its socket handed to the call's deadline once connected (urllib
    lets go of the connection after the headers, but the response keeps reading the same socket)."""

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        connection = kind(*args, **kwargs)
        deadline = getattr(_CallDeadline.current, "value", None)
        if deadline is not None:
            connect = connection.connect

            def connect_and_track() -> None:
                connect()
                deadline.track(connection.sock)

            connection.connect = connect_and_track  # type: ignore[method-assign]
        return connection

    return make


class _HttpWithDeadline(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_tracked(http.client.HTTPConnection), req)


class _HttpsWithDeadline(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self.tls_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_tracked(http.client.HTTPSConnection), req, context=self.tls_context)


class RedfishClient:
    def __init__(
        self,
        spec: BmcSpec,
        node: str,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.node = node
        self.url = spec.url.rstrip("/")
        self.origin = origin_of(self.url)
        scheme, host, port = self.origin
        self.origin_url = f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}"
        self.timeout_s = timeout_s
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._system_path: str | None = None
        self._context = self._tls_context()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            _NoRedirects(),
            _HttpWithDeadline(),
            _HttpsWithDeadline(context=self._context),
        )

    @property
    def tls_note(self) -> str | None:
        if self.url.startswith("http://"):
            return f"{self.url} is plain HTTP: the BMC password crosses the network unencrypted"
        if not self.spec.verify_tls:
            return f"TLS verification is OFF for {self.url} (verify_tls = false in the inventory)"
        return None

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https://"):
            return None
        if not self.spec.verify_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=str(self.spec.ca_file) if self.spec.ca_file else None)

    def _auth(self) -> str | None:
        if self.spec.user is None:
            return None
        password = ""
        if self.spec.password_env:
            if self.spec.password_env not in self._environ:
                raise BmcError(
                    f"the environment variable {self.spec.password_env} (the BMC password for {self.node}) is not set"
                )
            password = self._environ[self.spec.password_env]
        token = base64.b64encode(f"{self.spec.user}:{password}".encode()).decode()
        return f"Basic {token}"

    def resolve(self, link: str) -> str:
        """The URL for a path or link the BMC gave; ``BmcError`` unless it is on the BMC's own origin."""
        if not isinstance(link, str) or not link:
            raise BmcError(f"BMC {self.url} ({self.node}) gave an empty or non-text link: {link!r}")
        if link.startswith("/") and not link.startswith("//"):
            url = self.url + link if urllib.parse.urlsplit(self.url).path in ("", "/") else self.origin_url + link
        else:
            url = link
        try:
            target = origin_of(url)
            userinfo = urllib.parse.urlsplit(url).username
        except ValueError:
            target, userinfo = None, None
        if target != self.origin or userinfo is not None or "\\" in url:
            raise BmcError(
                f"BMC {self.url} ({self.node}) pointed at {excerpt(link)!r}, which is not its own origin "
                f"{self.origin_url}: not requested, because the BMC password is sent only to {self.origin_url}"
            )
        return url

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> tuple[int, Any]:
        """One call, ``timeout_s`` (default: the client's) at most from connect to the last byte."""
        url = self.resolve(path)
        limit = min(self.timeout_s, timeout_s) if timeout_s is not None else self.timeout_s
        headers = {"Accept": "application/json", "OData-Version": "4.0"}
        auth = self._auth()
        if auth:
            headers["Authorization"] = auth
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) only
        deadline = _CallDeadline(limit)
        try:
            with deadline, self._opener.open(request, timeout=limit) as response:
                raw = response.read(4 << 20)
                status = response.status
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                location = exc.headers.get("Location", "") if exc.headers else ""
                exc.close()
                raise BmcError(
                    f"BMC {self.url} ({self.node}) answered {method} {path} with a redirect ({exc.code}) to "
                    f"{excerpt(location)!r}: not followed, because the BMC password is sent only to "
                    f"{self.origin_url}"
                ) from None
            detail = _redfish_message(exc.read(65536))
            exc.close()
            if exc.code == 401:
                raise BmcError(
                    f"BMC {self.url} refused the login for user {self.spec.user!r} (401): wrong "
                    f"user or password in {self.spec.password_env or 'the environment'}"
                ) from None
            raise BmcError(
                f"BMC {self.url} answered {exc.code} {exc.reason} to {method} {path}"
                + (f": {detail}" if detail else "")
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise BmcError(
                    f"BMC {self.url}: TLS certificate not trusted ({reason.verify_message}); name its "
                    "CA with bmc.ca_file, or set verify_tls = false knowingly"
                ) from None
            if isinstance(reason, ConnectionRefusedError):
                raise BmcError(f"BMC {self.url} is unreachable: connection refused") from None
            if isinstance(reason, TimeoutError) or deadline.fired:
                raise BmcError(f"BMC {self.url} did not answer within {limit:g} s") from None
            raise BmcError(f"BMC {self.url} is unreachable: {reason}") from None
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            if deadline.fired or isinstance(exc, TimeoutError):
                raise BmcError(f"BMC {self.url} gave no complete answer within {limit:g} s") from None
            raise BmcError(f"BMC {self.url}: {exc or type(exc).__name__}") from None
        if deadline.fired:
            # A body that ends with the connection reads as complete even when the deadline cut it.
            raise BmcError(f"BMC {self.url} gave no complete answer within {limit:g} s")
        if not raw.strip():
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            raise BmcError(
                f"BMC {self.url} sent something that is not JSON: {excerpt(raw.decode('utf-8', 'replace'))!r}"
            ) from None

    def _get(self, path: str) -> dict[str, Any]:
        _, data = self.request("GET", path)
        if not isinstance(data, dict):
            raise BmcError(f"BMC {self.url}: unexpected answer to GET {path}")
        return data

    def system_path(self) -> str:
        with self._lock:
            if self._system_path is not None:
                return self._system_path
        listed = self._get("/redfish/v1/Systems").get("Members", [])
        members = [m.get("@odata.id", "") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
        if not members:
            raise BmcError(f"BMC {self.url} lists no computer systems")
        chosen: str | None = None
        wanted = self.spec.system
        if wanted is None and len(members) == 1:
            chosen = members[0]
        else:
            for member in members:
                system = self._get(member)
                names = {system.get("Id"), system.get("Name"), member.rstrip("/").rsplit("/", 1)[-1]}
                if (wanted and wanted in names) or (wanted is None and self.node in names):
                    chosen = member
                    break
        if chosen is None:
            hint = f"no system {wanted!r}" if wanted else f"{len(members)} systems and none is named {self.node!r}"
            raise BmcError(f"BMC {self.url} has {hint}; set bmc.system to the system's Id")
        with self._lock:
            self._system_path = chosen
        return chosen

    def system(self) -> dict[str, Any]:
        return self._get(self.system_path())

    def event_log(
        self, limit: int = EVENT_LOG_LIMIT, deadline_s: float = EVENT_LOG_DEADLINE_S
    ) -> list[tuple[float, str, str]]:
        """The system's Redfish event log (``LogServices`` → each service's ``Entries``), newest
        ``limit`` entries as (time, severity, words). Bounded in entries, services and time for the whole
        read; ``[]`` with BmcError("… has no event log") where the system lists no LogServices."""
        started = time.monotonic()
        system = self.system()
        link = system.get("LogServices")
        services_path = link.get("@odata.id") if isinstance(link, dict) else None
        if not isinstance(services_path, str):
            raise BmcError(f"BMC {self.url} ({self.node}) has no event log (its system lists no LogServices)")
        members = self._get(services_path).get("Members", [])
        out: list[tuple[float, str, str]] = []
        for member in (members if isinstance(members, list) else [])[:EVENT_LOG_SERVICES]:
            if time.monotonic() - started > deadline_s:
                raise BmcError(f"BMC {self.url} ({self.node}): its event log took over {deadline_s:.0f} s to read")
            path = member.get("@odata.id") if isinstance(member, dict) else None
            if not isinstance(path, str):
                continue
            service = self._get(path)
            entries_link = service.get("Entries")
            entries_path = entries_link.get("@odata.id") if isinstance(entries_link, dict) else None
            if not isinstance(entries_path, str):
                continue
            name = str(service.get("Id") or path.rstrip("/").rsplit("/", 1)[-1])[:40]
            entries = self._get(entries_path).get("Members", [])
            for entry in (entries if isinstance(entries, list) else [])[-EVENT_LOG_SCAN:]:
                if not isinstance(entry, dict):
                    continue
                when = _redfish_time(entry.get("Created"))
                if when is None:
                    continue
                severity = str(entry.get("Severity") or "OK")[:20]
                message = str(entry.get("Message") or entry.get("MessageId") or "")[:400]
                out.append((when, severity.lower(), f"{name}: {message}"))
        out.sort(key=lambda entry: entry[0])
        return out[-limit:]

    def power_state(self) -> str:
        return str(self.system().get("PowerState", "Unknown"))

    def allowed_resets(self) -> tuple[str, ...]:
        system = self.system()
        action = system.get("Actions", {}).get("#ComputerSystem.Reset", {})
        allowed = action.get("ResetType@Redfish.AllowableValues")
        if allowed is None and "@Redfish.ActionInfo" in action:
            info = self._get(action["@Redfish.ActionInfo"])
            for parameter in info.get("Parameters", []):
                if parameter.get("Name") == "ResetType":
                    allowed = parameter.get("AllowableValues")
        return tuple(str(v) for v in allowed or ())

    def led_state(self) -> str:
        system = self.system()
        if "IndicatorLED" in system:
            return str(system["IndicatorLED"])
        if "LocationIndicatorActive" in system:
            return str(bool(system["LocationIndicatorActive"]))
        return "not supported"

    def reset_call(self, reset_type: str) -> HttpCall:
        system = self.system()
        action = system.get("Actions", {}).get("#ComputerSystem.Reset", {})
        target = action.get("target") or f"{self.system_path()}/Actions/ComputerSystem.Reset"
        return HttpCall("POST", self.resolve(target), {"ResetType": reset_type})

    def led_call(self, state: str) -> HttpCall:
        system = self.system()
        url = self.resolve(self.system_path())
        if "IndicatorLED" in system or "LocationIndicatorActive" not in system:
            return HttpCall("PATCH", url, {"IndicatorLED": LED_VALUES[state]})
        return HttpCall("PATCH", url, {"LocationIndicatorActive": state != "off"})

    def execute(self, call: HttpCall, timeout_s: float | None = None) -> tuple[int, str]:
        status, data = self.request(call.method, call.url, call.body, timeout_s)
        return status, json.dumps(data) if data is not None else ""


def _redfish_time(value: object) -> float | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def _redfish_message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        error = data.get("error", {})
        infos = error.get("@Message.ExtendedInfo") or []
        if infos:
            return str(infos[0].get("Message", ""))
        return str(error.get("message", ""))
    except (ValueError, AttributeError):
        return excerpt(raw.decode("utf-8", "replace"))
