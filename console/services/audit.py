"""Reading the audit log (``fleet-console audit``): the store opened for writing where it can be (so that
actions of consoles that died are marked "outcome unknown" first), read-only where it cannot (a full disk
or a lock must not hide the log)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from console.core.actions.action_types import ActionKind
from console.core.actions.kinds.locate import lit_led_words
from console.core.records.sessions import session_alive
from console.core.records.store import STORE_FILE, AuditRow, Store
from console.core.records.store_error import StoreError

__all__ = ["AuditRead", "StoreError", "lit_leds_in", "read_audit"]


@dataclass(slots=True)
class AuditRead:
    rows: list[AuditRow]
    notes: list[str] = field(default_factory=list)  # what the reader should know (read-only, a failed mark)


def read_audit(data_dir: Path, since: str | None = None, node: str | None = None) -> AuditRead:
    """The audit rows since ``since`` (ISO UTC), of ``node`` if given; StoreError when nothing can be read."""
    path = data_dir / STORE_FILE
    notes: list[str] = []
    try:
        store = Store(path)
    except StoreError as exc:
        try:
            store = Store(path, readonly=True)
        except StoreError:
            raise exc from None
        notes.append(f"reading the audit log read-only: {store.read_note or exc}")
    try:
        if not store.readonly:
            try:
                store.mark_interrupted(lambda session: session_alive(data_dir / "sessions", session))
            except StoreError as exc:
                notes.append(str(exc))
        return AuditRead(store.rows(since=since, node=node), notes)
    finally:
        store.close()


def lit_leds_in(data_dir: Path, nodes: list[str]) -> dict[str, str]:
    """The locate LEDs the record in ``data_dir`` says were left lit, among ``nodes``, in words (none
    without a record); StoreError in words when it cannot be read."""
    path = data_dir / STORE_FILE
    if not nodes or not path.is_file():
        return {}
    store = Store(path, readonly=True)
    try:
        lit = lit_led_words(store.done_rows(ActionKind.LOCATE.value))
    finally:
        store.close()
    return {node: words for node, words in lit.items() if node in nodes}
