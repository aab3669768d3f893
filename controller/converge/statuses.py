"""The key statuses the configuration and reboot steps share, per charger.

What a charger answered per key (`KeyStatus`: Pending, Applied, RebootRequired, Rejected, ...)
decides the next plan (terminal answers are not sent again) and whether a reboot is awaited,
so both steps read and write one copy: loaded from the store the first time a charger is
reconciled, then kept here and written through to the store.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from controller.store.base import Store
from controller.values.records import KeyStatus


class KeyStatusBook:
    """The recorded statuses of each charger's keys, by identity and key; see the module."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._statuses: dict[str, dict[str, KeyStatus]] = {}

    async def of(self, identity: str) -> dict[str, KeyStatus]:
        """The charger's statuses by key (loaded from the store once). Read-only: change them
        through `save` and `forget`."""
        if identity not in self._statuses:
            stored = await self.store.key_statuses(identity)
            self._statuses[identity] = {s.key: s for s in stored}
        return self._statuses[identity]

    async def save(self, identity: str, updates: Sequence[KeyStatus]) -> None:
        if not updates:
            return
        statuses = self._statuses.setdefault(identity, {})
        for status in updates:
            statuses[status.key] = status
        await self.store.record_key_statuses(updates)

    async def forget(self, identity: str, keys: Collection[str]) -> None:
        if not keys:
            return
        statuses = self._statuses.get(identity, {})
        for key in keys:
            statuses.pop(key, None)
        await self.store.forget_key_statuses(identity, keys)
