"""IdComponents: component counts match a plain graph search, whatever the order, split or pickling."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from trace_harness.components import IdComponents

Finding = list[tuple[int, str]]
pair = st.tuples(st.integers(0, 2), st.sampled_from("abcdefgh"))
findings = st.lists(st.lists(pair, min_size=1, max_size=4, unique_by=lambda p: p[0]), max_size=30)


def reference_count(items: list[Finding]) -> int:
    """Components of the graph whose nodes are (list, id) and whose edges join each finding's ids."""
    neighbours: dict[tuple[int, str], set[tuple[int, str]]] = {}
    for pairs in items:
        for node in pairs:
            neighbours.setdefault(node, set()).update(pairs)
    seen: set[tuple[int, str]] = set()
    count = 0
    for node in neighbours:
        if node in seen:
            continue
        count += 1
        stack = [node]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(neighbours[current] - seen)
    return count


def built(items: list[Finding]) -> IdComponents:
    components = IdComponents(3)
    for pairs in items:
        components.join(pairs)
    return components


@given(findings)
def test_count_matches_a_graph_search(items: list[Finding]) -> None:
    assert built(items).count() == reference_count(items)


@given(findings, st.integers(0, 30))
def test_two_pickled_halves_absorbed_count_like_one(items: list[Finding], cut: int) -> None:
    first = built(items[:cut])
    second = pickle.loads(pickle.dumps(built(items[cut:])))
    first.absorb(second)
    assert first.count() == reference_count(items)
    assert {value for table in first.label_of for value in table} == {value for pairs in items for _, value in pairs}


def test_unjoined_ids_are_listed_but_in_no_component() -> None:
    components = IdComponents(2)
    components.add_unjoined(0, "issue-1")
    components.join([(0, "issue-1"), (1, "run-1")])
    components.add_unjoined(1, "run-2")
    restored = pickle.loads(pickle.dumps(components))
    assert restored.count() == 1
    assert restored.label_of[1]["run-2"] is None and restored.unjoined() == ([], ["run-2"])


rows = st.lists(
    st.tuples(st.sampled_from("abcdef"), st.sampled_from(["", "p", "q", "r"]), st.sampled_from(["", "x", "y", "a"])),
    max_size=40,
)


@given(findings, rows, st.integers(1, 40), st.lists(pair, max_size=4))
def test_star_joins_match_one_join_per_finding(
    items: list[Finding], star_rows: list[tuple[str, ...]], batch: int, summary_ids: list[tuple[int, str]]
) -> None:
    """Rows joined in batches (hub in list 0, spokes in lists 1 and 2, "" absent) after ordinary joins and
    ids known only from a summary (which join once a row holds them)."""
    components = built(items)
    for index, value in summary_ids:
        components.add_unjoined(index, value)
    for start in range(0, len(star_rows), batch):
        chunk = star_rows[start : start + batch]
        hubs = [hub for hub, _, _ in chunk]
        components.join_star(hubs, [(1, [one for _, one, _ in chunk]), (2, [two for _, _, two in chunk])])
    as_findings = [[(index, value) for index, value in enumerate(row) if value] for row in star_rows]
    assert components.count() == reference_count(items + as_findings)
    joined = {pair for pairs in items + as_findings for pair in pairs}
    listed = {(index, value) for index, table in enumerate(components.label_of) for value in table}
    assert listed == joined | set(summary_ids)
    assert {(index, value) for index, values in enumerate(components.unjoined()) for value in values} == (
        set(summary_ids) - joined
    )
    roots = {components.find(label) for table in components.label_of for label in table.values() if label is not None}
    assert len(roots) == components.count()  # every component holds an id


def test_columns_from_elsewhere_become_tables_only_when_looked_up() -> None:
    """The native scanner hands ids over as columns; listing them builds no table, a lookup or join does."""
    columns = ((["issue-1", "issue-2"], [0, 1]), ([], []), ([], []), (["run-1"], [0]), ([], []))
    components = IdComponents.from_columns(columns, [0, 1])
    assert components.ids()[0] == ["issue-1", "issue-2"] and components.count() == 2
    assert components._columns is not None  # nothing looked up yet
    components.join([(0, "issue-2"), (3, "run-1")])  # one finding holding both: one component
    assert components._columns is None and components.count() == 1
    assert set(components.ids()[3]) == {"run-1"} and components.label_of[0]["issue-1"] is not None
