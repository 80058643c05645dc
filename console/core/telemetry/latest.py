"""The latest view of every node, as the window's snapshots bring them: what each of the window's views
reads (the table, the heatmap and the racks, the tenants, Find the box), so that none of them reads another
one's model (the heatmap used to read the table's rows)."""

from __future__ import annotations

from collections.abc import Iterable

from console.core.telemetry.fleet import NodeView


class LatestViews:
    """Every node's last view, in the inventory's order; replaced node by node as snapshots arrive."""

    def __init__(self, views: Iterable[NodeView]) -> None:
        self._views = {view.name: view for view in views}

    def apply(self, changed: Iterable[NodeView]) -> None:
        for view in changed:
            if view.name in self._views:
                self._views[view.name] = view

    def views(self) -> list[NodeView]:
        return list(self._views.values())
