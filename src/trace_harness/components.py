"""A cluster's affected ids and their connected components: findings that share an id are one occurrence.

Built for the worker-log hot path and for memory: one dict per list (issues, runs, …) maps each raw id to a
label, so the same table is the id set and the entry point of the union-find. A label is an int that is never
rewritten (None: an id known only from a summary, in no component); labels form a forest (``parent``), and
its roots are the components. An id new to a batch takes the label of an id it arrived with, so most joins
add no label and need no union: the per-finding work is table lookups, done in C-level passes by
``join_star``. Ids are interned as tables take them, so an id that several clusters share (a session, an
issue) is one string in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from itertools import compress, repeat
from operator import is_
from sys import intern
from typing import Any, cast

Columns = tuple[tuple[list[str], list[int]], ...]  # per list: ids, and each one's label


class IdComponents:
    """Union-find over (list index, id); ``count()`` is the number of components."""

    __slots__ = ("_columns", "_tables", "lists", "parent")

    def __init__(self, lists: int) -> None:
        self.lists = lists
        self._tables: tuple[dict[str, int | None], ...] = tuple({} for _ in range(lists))
        self._columns: Columns | None = None  # ids and their roots, until a table is needed
        self.parent: list[int] = []  # label -> a label of the same component; a root is its own parent

    @classmethod
    def from_columns(cls, columns: Columns, roots: list[int]) -> IdComponents:
        """Components already found elsewhere (the native scanner): per list, its ids and their roots (0..n-1).
        The tables are built only if something looks an id up or joins more (most such clusters only count
        and list their ids)."""
        components = cls(len(columns))
        components._columns, components.parent = columns, roots
        return components

    @property
    def label_of(self) -> tuple[dict[str, int | None], ...]:
        """Per list, each id's label (None: an id known only from a summary, in no component)."""
        if self._columns is not None:
            self._tables = tuple(dict(zip(ids, labels, strict=True)) for ids, labels in self._columns)
            self._columns = None
        return self._tables

    def ids(self) -> tuple[Collection[str], ...]:
        """Per list, its ids."""
        if self._columns is not None:
            return tuple(ids for ids, _ in self._columns)
        return tuple(table.keys() for table in self._tables)

    def join(self, pairs: list[tuple[int, str]]) -> None:
        """Put the (distinct) ``(list index, id)`` pairs of one finding in one component."""
        label_of = self.label_of
        labels = [label_of[index].get(value) for index, value in pairs]
        known = [label for label in labels if label is not None]
        target = known[0] if known else self._new_labels(1)[0]
        for other in known[1:]:
            self.union(target, other)
        for (index, value), label in zip(pairs, labels, strict=True):
            if label is None:
                label_of[index][value] = target

    def join_star(self, hubs: list[str], spokes: Iterable[tuple[int, list[str]]]) -> None:
        """``join`` of many findings at once, each holding ``hubs[i]`` (a list-0 id) and ``column[i]`` of each
        ``(list index, column)`` spoke ("" when absent): the same components, from C-level passes over the
        columns; Python runs per new hub and per distinct pair of labels that still needs a union."""
        hub_table = self.label_of[0]
        new_hubs = set(hubs).difference(hub_table)
        hub_table.update(zip(map(intern, new_hubs), self._new_labels(len(new_hubs)), strict=True))
        labels = list(map(hub_table.__getitem__, hubs))
        if None in labels:  # hubs known only from a summary join now
            unjoined = {hub for hub, label in zip(hubs, labels, strict=True) if label is None}
            hub_table.update(zip(unjoined, self._new_labels(len(unjoined)), strict=True))
            labels = list(map(hub_table.__getitem__, hubs))
        hub_labels = cast(list[int], labels)
        for index, column in spokes:
            self._join_spoke(self.label_of[index], column, hub_labels)

    def _join_spoke(self, table: dict[str, int | None], column: list[str], hub_labels: list[int]) -> None:
        """Join each row's spoke id to its hub: an id first seen here takes the label of a hub it came with."""
        labels = list(map(table.get, column))
        pairs: set[tuple[int | None, int | None]] = set(zip(labels, hub_labels, strict=True))
        if None in labels:  # C-level all through: pick the rows whose id is new, label those ids in one update
            flags = list(map(is_, labels, repeat(None)))
            new_values = list(map(intern, compress(column, flags)))  # one string per id for all clusters
            new_hubs = list(compress(hub_labels, flags))
            fresh = dict(zip(new_values, new_hubs, strict=True))
            fresh.pop("", None)
            table.update(fresh)
            pairs.update(zip(map(fresh.get, new_values), new_hubs, strict=True))
        self._link(pairs)

    def add_unjoined(self, index: int, value: str) -> None:
        """Know ``value`` as an id of list ``index`` without joining it to anything."""
        self.label_of[index].setdefault(value, None)

    def absorb(self, other: IdComponents) -> None:
        """Fold in another instance's ids and components (e.g. from a forked scan); C-level per id."""
        other.flatten()
        self.flatten()
        offset = len(self.parent)
        self.parent.extend(root + offset for root in other.parent)  # their flat forest, shifted past our labels
        roots = self.parent[offset:]
        for mine, theirs in zip(self.label_of, other.label_of, strict=True):
            if None in theirs.values():  # ids they know only from a summary: join nothing, stay listed
                for value in [value for value, label in theirs.items() if label is None]:
                    mine.setdefault(value, None)
                    del theirs[value]
            self._absorb_table(mine, theirs, roots)

    def _absorb_table(self, mine: dict[str, int | None], theirs: dict[str, int | None], roots: list[int]) -> None:
        """Their joined ids: new ones take their (shifted) root, shared ones join the two roots."""
        shared = set(theirs)
        new = shared.difference(mine)
        shared -= new
        mine.update(zip(map(intern, new), _roots_of(new, theirs, roots), strict=True))
        ours = list(map(mine.__getitem__, shared))
        if None in ours:  # ids we knew only from a summary take their label
            unjoined = [value for value, label in zip(shared, ours, strict=True) if label is None]
            mine.update(zip(unjoined, _roots_of(unjoined, theirs, roots), strict=True))
            ours = list(map(mine.__getitem__, shared))
        mine_roots = map(self.parent.__getitem__, cast(list[int], ours))
        self._link(set(zip(mine_roots, _roots_of(shared, theirs, roots), strict=True)))

    def unjoined(self) -> tuple[list[str], ...]:
        return tuple([value for value, label in table.items() if label is None] for table in self.label_of)

    def count(self) -> int:
        return sum(map(int.__eq__, self.parent, range(len(self.parent))))

    def flatten(self) -> None:
        """Point every label straight at its root: finds become one lookup, and absorbing is C-level."""
        parent = self.parent
        if list(map(parent.__getitem__, parent)) != parent:  # a C-level test: most forests here are flat
            self.parent = [self.find(label) for label in range(len(parent))]

    def find(self, label: int) -> int:
        parent = self.parent
        while (up := parent[label]) != label:
            parent[label] = parent[up]  # path halving keeps later finds short
            label = parent[label]
        return label

    def union(self, first: int, second: int) -> None:
        roots = self.find(first), self.find(second)
        if roots[0] != roots[1]:
            self.parent[max(roots)] = min(roots)

    def _link(self, pairs: Iterable[tuple[int | None, int | None]]) -> None:
        """Union each pair of labels (a None side is an id in no component: nothing to join)."""
        for first, second in pairs:
            if first != second and first is not None and second is not None:
                self.union(first, second)

    def _new_labels(self, count: int) -> list[int]:
        labels = list(range(len(self.parent), len(self.parent) + count))
        self.parent.extend(labels)  # the same int objects in the forest and the tables: ~28 bytes per id less
        return labels

    def __getstate__(self) -> dict[str, Any]:
        return {"lists": self.lists, "label_of": self.label_of, "parent": self.parent}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled ids are new strings: intern them, so they are the ones this process's tables hold."""
        self.lists, self.parent, self._columns = state["lists"], state["parent"], None
        self._tables = tuple(dict(zip(map(intern, table), table.values(), strict=True)) for table in state["label_of"])


def _roots_of(values: Iterable[str], table: dict[str, int | None], roots: list[int]) -> Iterator[int]:
    """The roots (in ``roots``) of joined ids' labels in ``table``, C-level."""
    return map(roots.__getitem__, cast(Iterator[int], map(table.__getitem__, values)))
