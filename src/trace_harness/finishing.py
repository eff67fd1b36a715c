"""Finishing a large report's clusters on both cores.

Each cluster finishes on its own: its deferred parts are folded in (a native scan's ids and evidence), its
entries are masked and bounded, and its proposals are rendered. With several clusters and enough evidence,
a forked helper finishes some of them while this process finishes the rest. Fork gives the helper a copy of
the accumulator, so only the finished clusters travel back (pickled). The clusters are the ones a single
process would make: the split only decides where each is computed. If the helper dies, its share is
finished here; an error in the helper (a template that does not render) is raised here, as it would be.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from .cluster import ClusterAccumulator
from .evidence.base import can_fork_helpers
from .models import Cluster

Post = Callable[[Cluster], Cluster]  # what follows finishing (rendering proposals), per cluster
FORK_MIN_BYTES = 16 * 1024 * 1024  # of input: below this the helper costs more than it saves
_HELPER_SHARE = 0.45  # of the clusters' findings: the helper also pickles what it finished
_HELPER_FLOOR = 0.2  # a smaller share is not worth a fork

_inherited: Callable[[], list[Cluster]] | None = None  # the helper's work, inherited through fork


def finish_clusters(
    accumulator: ClusterAccumulator, post: Post, input_bytes: int, warm: Callable[[], None] | None = None
) -> list[Cluster]:
    """Every cluster finished and post-processed, in cluster id order. ``warm`` does, once and before any
    fork, what every post-processing needs first (compiling templates)."""
    ids = accumulator.cluster_ids()
    theirs = helper_share(accumulator, ids) if input_bytes >= FORK_MIN_BYTES and can_fork_helpers() else []
    if warm is not None and ids:
        warm()
    mine = [cluster_id for cluster_id in ids if cluster_id not in theirs]
    with _without_cycle_collection():
        done = dict(zip(mine + theirs, _finish_split(accumulator, post, mine, theirs), strict=True))
    return [done[cluster_id] for cluster_id in ids]


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Finishing allocates a few bounded, acyclic structures per cluster while the accumulator's state is
    large: the cycle collector would walk that state again and again (measured: ~0.1 s of 0.5 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def helper_share(accumulator: ClusterAccumulator, ids: Sequence[str]) -> list[str]:
    """The clusters the helper finishes: the largest first, while they stay within its share of the work
    (none when that share is too small to be worth a fork)."""
    weights = accumulator.finishing_weights()
    budget, taken, theirs = _HELPER_SHARE * sum(weights.values()), 0, []
    for cluster_id in sorted(ids, key=lambda item: (-weights.get(item, 0), item)):
        if taken + weights.get(cluster_id, 0) <= budget:
            theirs.append(cluster_id)
            taken += weights.get(cluster_id, 0)
    return theirs if _HELPER_FLOOR * sum(weights.values()) <= taken and len(theirs) < len(ids) else []


def _finish_split(accumulator: ClusterAccumulator, post: Post, mine: list[str], theirs: list[str]) -> list[Cluster]:
    def work(ids: list[str]) -> Callable[[], list[Cluster]]:
        return lambda: [post(accumulator.finish(cluster_id)) for cluster_id in ids]

    if not theirs:
        return work(mine)()
    global _inherited
    _inherited = work(theirs)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            helped = pool.submit(_run_inherited)  # forks now: the helper inherits ``_inherited``
            finished = work(mine)()
            try:
                return finished + helped.result()
            except (BrokenProcessPool, OSError):  # the helper died (e.g. killed for memory): finish them here
                return finished + work(theirs)()
    finally:
        _inherited = None


def _run_inherited() -> list[Cluster]:
    assert _inherited is not None, "a finishing helper runs only in a process forked by _finish_split"
    return _inherited()
