"""The head row this process last wrote per thread, with its ETag.

A writer that is alone on a thread (the usual case: one step streaming) then appends in one round
trip; a stale head fails its If-Match and is read again.
"""

from __future__ import annotations

from collections import OrderedDict

from .table_transaction import CachedHead

_CACHED_HEADS = 1024


class HeadCache:
    def __init__(self, size: int = _CACHED_HEADS) -> None:
        self._size = size
        self._heads: OrderedDict[str, CachedHead] = OrderedDict()

    def get(self, thread_id: str) -> CachedHead | None:
        return self._heads.get(thread_id)

    def put(self, thread_id: str, cached: CachedHead) -> None:
        self._heads[thread_id] = cached
        self._heads.move_to_end(thread_id)
        while len(self._heads) > self._size:
            self._heads.popitem(last=False)

    def forget(self, thread_id: str) -> None:
        self._heads.pop(thread_id, None)

    def clear(self) -> None:
        self._heads.clear()
