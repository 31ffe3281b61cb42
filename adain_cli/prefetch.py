"""Loading a job's contents ahead of the network, in background threads, in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")


def loaded_ahead(
    pool: ThreadPoolExecutor,
    sources: Sequence[Item],
    load: Callable[[Item], Loaded],
    *,
    ahead: int,
    small: Callable[[Loaded], bool] = lambda loaded: False,
) -> Iterator[tuple[Item, Future[Loaded]]]:
    """Yield (source, future) in order while up to `ahead` later loads run in the background.

    After a `small` result (an image decoded in a fraction of a millisecond) the next ones are loaded in the
    calling thread, when needed: for those a thread's hand-off costs more than the decode (10,000 contents of
    32 px: fewer context switches, less CPU and less time). The first large one brings the background back.
    """
    upcoming = iter(sources)
    window: deque[tuple[Item, Future[Loaded]]] = deque()
    inline = False
    while True:
        while not inline and len(window) <= ahead:
            source = next(upcoming, None)
            if source is None:
                break
            window.append((source, pool.submit(load, source)))
        if window:
            source, future = window.popleft()
        else:
            source = next(upcoming, None)
            if source is None:
                return
            future = loaded_here(load, source)
        yield source, future
        inline = future.done() and future.exception() is None and small(future.result())


def loaded_here(load: Callable[[Item], Loaded], source: Item) -> Future[Loaded]:
    future: Future[Loaded] = Future()
    try:
        future.set_result(load(source))
    except Exception as error:  # delivered as a background load's would be
        future.set_exception(error)
    return future
