"""A cluster's affected ids and their connected components: findings that share an id are one occurrence.

Built for the worker-log hot path and for memory: one dict per list (issues, runs, …) maps each raw id to
its component label, so the same table is the id set and the union-find, and no token object exists per
id; a label is a shared int (None: an id known only from a summary, in no component), so a find is one
lookup; a join relabels the smaller side, so an id moves O(log n) times in all.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any, cast

Groups = tuple[list[str], ...]  # member ids per list index


class IdComponents:
    """Union-find over (list index, id) by relabelling; ``count()`` is the number of components."""

    __slots__ = ("label_of", "lists", "members", "next_label")

    def __init__(self, lists: int) -> None:
        self.lists = lists
        self.label_of: tuple[dict[str, int | None], ...] = tuple({} for _ in range(lists))
        self.members: dict[int, Groups] = {}
        self.next_label = 0

    def join(self, pairs: list[tuple[int, str]]) -> None:
        """Put the (distinct) ``(list index, id)`` pairs of one finding in one component."""
        label_of = self.label_of
        labels = []
        for index, value in pairs:  # a plain loop: a comprehension would cost a frame per finding
            labels.append(label_of[index].get(value))
        if None not in labels:
            if labels.count(labels[0]) != len(labels):
                self._merge(cast(set[int], set(labels)))
            return  # the usual case: every id already known, in one component
        known = set(labels)  # C-level, unlike a filtering comprehension: this runs for most findings
        known.discard(None)
        target = cast(int, known.pop()) if len(known) == 1 else self._merge(cast(set[int], known))
        kept = self.members[target]
        for (index, value), label in zip(pairs, labels, strict=True):
            if label is None:
                label_of[index][value] = target
                kept[index].append(value)

    def join_groups(self, groups: Groups) -> None:
        """Put every id of ``groups`` (one component of another instance) in one component."""
        known: set[int | None] = set()
        for index, values in enumerate(groups):
            known.update(map(self.label_of[index].get, values))
        has_new = None in known
        labels = {label for label in known if label is not None}
        if not has_new and len(labels) <= 1:
            return
        target = labels.pop() if len(labels) == 1 else self._merge(labels)
        for index, values in enumerate(groups):
            table = self.label_of[index]
            new = [value for value in values if table.get(value) is None]
            table.update(dict.fromkeys(new, target))
            self.members[target][index].extend(new)

    def add_unjoined(self, index: int, value: str) -> None:
        """Know ``value`` as an id of list ``index`` without joining it to anything."""
        self.label_of[index].setdefault(value, None)

    def absorb(self, other: IdComponents) -> None:
        for groups in other.members.values():
            self.join_groups(groups)
        for index, values in enumerate(other.unjoined()):
            for value in values:
                self.add_unjoined(index, value)

    def unjoined(self) -> Groups:
        return tuple([value for value, label in table.items() if label is None] for table in self.label_of)

    def count(self) -> int:
        return len(self.members)

    def _merge(self, labels: Iterable[int]) -> int:
        """One component holding every given one (a new, empty one if none is given)."""
        labels = set(labels)
        if not labels:
            return self._new_component()
        members = self.members
        target = max(labels, key=lambda label: (sum(map(len, members[label])), label))
        for label in labels - {target}:
            for index, values in enumerate(members.pop(label)):
                if values:
                    self.label_of[index].update(dict.fromkeys(values, target))
                    members[target][index].extend(values)
        return target

    def _new_component(self) -> int:
        label = self.next_label
        self.next_label += 1
        self.members[label] = tuple(map(list, repeat((), self.lists)))
        return label

    def __getstate__(self) -> dict[str, Any]:
        """Only the member lists cross a process boundary; the lookups are rebuilt from them (C-level)."""
        return {
            "lists": self.lists,
            "members": self.members,
            "next_label": self.next_label,
            "unjoined": self.unjoined(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.lists, self.members, self.next_label = state["lists"], state["members"], state["next_label"]
        self.label_of = tuple({} for _ in range(self.lists))
        for index, values in enumerate(state["unjoined"]):
            self.label_of[index].update(dict.fromkeys(values))
        for label, groups in self.members.items():
            for index, values in enumerate(groups):
                self.label_of[index].update(dict.fromkeys(values, label))
