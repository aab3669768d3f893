"""The chargers table's rows: filtered, searched, sorted and paged, as the URL's query says.

Pure: rows in, a page out, so the rules a user relies on (what a filter keeps, how a column
sorts, where page 3 starts) are tested without a server. Every parameter lives in the query
string, so a link to a filtered, sorted page can be shared; an unknown value is ignored rather
than refused, since a stale bookmark should still open the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from controller.web.view.insights import Attention, page_count

PER_PAGE = 50
MAX_PER_PAGE = 500


class Connection(StrEnum):
    CONNECTED = "connected"
    OFFLINE = "offline"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Row:
    """One charger of the table (declared or pending)."""

    name: str | None
    identity: str
    location: str | None
    connection: Connection
    sync: str
    vendor: str | None
    model: str | None
    serial: str | None
    firmware: str | None
    ocpp_version: str | None
    last_heartbeat: str | None
    since: str | None
    """When it connected (connected) or went away (offline), RFC 3339."""
    away_since: datetime | None = None
    """When an offline charger that had connected went away (the dashboard's "offline for
    long" is decided from it per request)."""
    troubles: tuple[Attention, ...] = ()
    """What needs attention whatever the time: Faulted connectors, blocked keys, firmware."""

    @property
    def key(self) -> str:
        """What its page is found by: the fleet name, or the identity of a pending charger."""
        return self.name or self.identity

    @property
    def vendor_model(self) -> str | None:
        if self.vendor is None and self.model is None:
            return None
        return " ".join(part for part in (self.vendor, self.model) if part)


SORTS: Mapping[str, Callable[[Row], Any]] = {
    "name": lambda r: r.key.lower(),
    "location": lambda r: (r.location or "").lower(),
    "connection": lambda r: r.connection.value,
    "sync": lambda r: r.sync,
    "model": lambda r: (r.vendor_model or "").lower(),
    "firmware": lambda r: r.firmware or "",
    "version": lambda r: r.ocpp_version or "",
    "heartbeat": lambda r: r.last_heartbeat or "",
}


@dataclass(frozen=True, slots=True)
class Query:
    """The table's state, read from and written back to the URL."""

    q: str = ""
    location: str = ""
    connection: str = ""
    sync: str = ""
    model: str = ""
    firmware: str = ""
    version: str = ""
    sort: str = "name"
    order: str = "asc"
    page: int = 1
    per: int = PER_PAGE

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Query:
        def number(name: str, default: int, most: int) -> int:
            try:
                return max(1, min(most, int(query.get(name, default))))
            except ValueError:
                return default

        sort = query.get("sort", "name")
        return cls(
            q=query.get("q", "").strip(),
            location=query.get("location", ""),
            connection=query.get("connection", ""),
            sync=query.get("sync", ""),
            model=query.get("model", ""),
            firmware=query.get("firmware", ""),
            version=query.get("version", ""),
            sort=sort if sort in SORTS else "name",
            order="desc" if query.get("order") == "desc" else "asc",
            page=number("page", 1, 1_000_000),
            per=number("per", PER_PAGE, MAX_PER_PAGE),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this state with `changes`, leaving defaults out."""
        changed = replace(self, **changes)
        default = Query()
        return {
            name: str(getattr(changed, name))
            for name in Query.__slots__
            if getattr(changed, name) != getattr(default, name)
        }

    def sorted_by(self, column: str) -> dict[str, str]:
        """The link of a column header: sort by it, or flip the order if it is the sort."""
        order = "desc" if self.sort == column and self.order == "asc" else "asc"
        return self.params(sort=column, order=order, page=1)


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row]
    total: int
    """Rows that pass the filters (on every page)."""
    page: int
    pages: int


def matches(row: Row, query: Query) -> bool:
    if query.location and row.location != query.location:
        return False
    if query.connection and row.connection.value != query.connection:
        return False
    if query.sync and row.sync != query.sync:
        return False
    if query.model and row.vendor_model != query.model:
        return False
    if query.firmware and row.firmware != query.firmware:
        return False
    if query.version and row.ocpp_version != query.version:
        return False
    if query.q:
        text = query.q.lower()
        return any(text in value.lower() for value in (row.name, row.identity, row.serial) if value)
    return True


def select(rows: Iterable[Row], query: Query) -> Page:
    """The rows that pass the query's filters, sorted, cut to its page (the last page if it
    asks past the end)."""
    kept = [row for row in rows if matches(row, query)]
    kept.sort(key=lambda r: r.key.lower())  # ties keep name order, whatever the column
    kept.sort(key=SORTS[query.sort], reverse=query.order == "desc")
    pages = page_count(len(kept), query.per)
    page = min(query.page, pages)
    start = (page - 1) * query.per
    return Page(kept[start : start + query.per], len(kept), page, pages)


def choices(rows: Iterable[Row]) -> dict[str, list[str]]:
    """The values each filter offers, from the rows themselves (sorted, no blanks)."""
    found: dict[str, set[str]] = {"model": set(), "firmware": set(), "version": set()}
    for row in rows:
        for name, value in (
            ("model", row.vendor_model),
            ("firmware", row.firmware),
            ("version", row.ocpp_version),
        ):
            if value:
                found[name].add(value)
    return {name: sorted(values) for name, values in found.items()}
