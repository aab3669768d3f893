"""The chargers table's rules: what a filter keeps, how a column sorts, where a page starts,
and that a query survives the round trip through the URL."""

from __future__ import annotations

from controller.web.view.fleetlist import Connection, Query, Row, choices, select


def row(name: str, **fields: object) -> Row:
    values: dict[str, object] = {
        "name": name,
        "identity": name.upper(),
        "location": "depot",
        "connection": Connection.CONNECTED,
        "sync": "Synced",
        "vendor": "Alfen",
        "model": "NG910",
        "serial": f"SN-{name}",
        "firmware": "6.1",
        "ocpp_version": "1.6",
        "last_heartbeat": None,
        "since": None,
    }
    values.update(fields)
    return Row(**values)  # type: ignore[arg-type]


ROWS = [
    row("cp-b", location="yard", connection=Connection.OFFLINE, firmware="6.0"),
    row("cp-a", sync="Blocked"),
    row("cp-c", vendor="ABB", model="Terra", ocpp_version="2.0.1", serial="XYZ-77"),
]


def names(query: Query) -> list[str]:
    return [r.key for r in select(ROWS, query).rows]


def test_filters_keep_only_the_matching_chargers() -> None:
    assert names(Query(location="yard")) == ["cp-b"]
    assert names(Query(connection="offline")) == ["cp-b"]
    assert names(Query(sync="Blocked")) == ["cp-a"]
    assert names(Query(model="ABB Terra")) == ["cp-c"]
    assert names(Query(firmware="6.1", version="1.6")) == ["cp-a"]


def test_text_search_looks_at_name_identity_and_serial_ignoring_case() -> None:
    assert names(Query(q="xyz")) == ["cp-c"]
    assert names(Query(q="CP-B")) == ["cp-b"]
    assert names(Query(q="nothing")) == []


def test_a_column_sorts_both_ways_with_ties_in_name_order() -> None:
    assert names(Query()) == ["cp-a", "cp-b", "cp-c"]
    assert names(Query(sort="location", order="desc")) == ["cp-b", "cp-a", "cp-c"]
    assert names(Query(sort="firmware")) == ["cp-b", "cp-a", "cp-c"]


def test_pages_cut_the_filtered_rows_and_a_page_past_the_end_shows_the_last() -> None:
    page = select(ROWS, Query(per=2, page=2))
    assert [r.key for r in page.rows] == ["cp-c"] and (page.total, page.pages) == (3, 2)
    assert select(ROWS, Query(per=2, page=9)).page == 2


def test_the_query_round_trips_through_the_url_and_bad_values_fall_back() -> None:
    query = Query(q="cp", location="yard", sort="sync", order="desc", page=3)
    assert Query.parse(query.params()) == query
    assert Query.parse({"sort": "evil", "page": "x", "per": "100000"}) == Query(per=500)


def test_a_column_header_flips_the_order_of_the_column_in_force() -> None:
    assert Query(sort="name").sorted_by("name")["order"] == "desc"
    assert "order" not in Query(sort="name").sorted_by("location")


def test_filter_choices_come_from_the_rows() -> None:
    offered = choices(ROWS)
    assert offered["model"] == ["ABB Terra", "Alfen NG910"]
    assert offered["version"] == ["1.6", "2.0.1"]
