"""The budget ledger: how much of `observation_budget` this run has spoken for.

Observations, this run's suggestions (reserved before the request that asks for them, then
open while evaluated) and other runs' open suggestions together never exceed the budget:
a slot is reserved *before* the `await` that asks for a suggestion (decide, then do I/O),
so no interleaving of slots can overshoot it. One object, edited only through its methods.
"""

from __future__ import annotations


class BudgetLedger:
    """`reserve` a slot before asking for a suggestion; `commit` it once its observation is
    stored; `release` it when nothing was stored (deleted, refused, the request failed);
    `refused` when the service says other runs hold the rest of the budget."""

    def __init__(self, budget: int = 0) -> None:
        self.budget = budget
        #: Observations stored (before this run, replayed, or reported by it).
        self.observed = 0
        #: This run's suggestions: reserved or open, not yet observed.
        self.reserved = 0
        #: Other runs' open suggestions, counted once at the start.
        self.foreign = 0
        #: The service refused a reserved slot: other runs took the rest of the budget.
        self.is_full = False

    def start(self, budget: int, *, observed: int, foreign: int, adopted: int) -> None:
        """The ledger at the start of the run: every open suggestion counts, ours adopted."""
        self.budget = budget
        self.observed = observed
        self.foreign = foreign
        self.reserved = adopted
        self.is_full = False

    @property
    def committed(self) -> int:
        """Observations plus open suggestions that count against the budget."""
        return self.observed + self.reserved + self.foreign

    def reserve(self) -> bool:
        """Take one slot for a new suggestion; False when the budget has none left."""
        if self.is_full or self.committed >= self.budget:
            return False
        self.reserved += 1
        return True

    def release(self) -> None:
        """A slot that stores nothing: the suggestion was deleted, refused or never made."""
        self.reserved -= 1

    def commit(self) -> None:
        """The slot's observation is stored."""
        self.reserved -= 1
        self.observed += 1

    def refused(self) -> None:
        """The service refused a reserved slot: others hold the rest; reserve no more."""
        self.release()
        self.is_full = True

    def __repr__(self) -> str:
        full = ", full" if self.is_full else ""
        return (
            f"BudgetLedger(committed={self.committed}/{self.budget}: observed={self.observed}, "
            f"reserved={self.reserved}, foreign={self.foreign}{full})"
        )
