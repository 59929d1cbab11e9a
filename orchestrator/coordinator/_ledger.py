"""The budget ledger: how much of `observation_budget` this run has spoken for.

Observations, this run's suggestions (reserved before the request that asks for them, then
open while evaluated) and other runs' open suggestions together never exceed the budget:
a slot is reserved *before* the `await` that asks for a suggestion (decide, then do I/O),
so no interleaving of slots can overshoot it. One object, edited only through its methods.

The budget is spent in cost, as the service counts it (`progress.observation_budget_
consumed`, the `within_budget` check): each observation and open suggestion costs its
task's cost in a multitask experiment, 1 otherwise (`cost_of`), summed in decimal so ten
tasks of cost 0.1 are exactly 1. A reserved slot's task is known only once its suggestion
arrives: until then it counts as the cheapest task (`priced` then sets its cost), so the
ledger never holds back a slot the service would fill; when the service refuses one
(the open suggestions' real costs fill the budget), the run asks for no more, and ends
once those are observed: at the budget, exactly where the service stops.
"""

from __future__ import annotations

from decimal import Decimal

from sigopt_service.models import Suggestion, Task

Cost = Decimal | int


def task_cost(task: Task | None) -> Decimal:
    """What one observation of `task` consumes: its cost as the decimal it is written as
    (`repr` of a float is its shortest round-trip form), 1 without a task."""
    return Decimal(1) if task is None else Decimal(repr(task.cost))


def cost_of(suggestion: Suggestion) -> Decimal:
    """What the suggestion's observation will consume of the budget."""
    return task_cost(suggestion.task)


class BudgetLedger:
    """`reserve` a slot before asking for a suggestion and `priced` it once the suggestion
    (and so its task) is known; `commit` it once its observation is stored; `release` it
    when nothing was stored (deleted, refused, the request failed); `refused` when the
    service says the open suggestions hold the rest of the budget. Costs given to
    `release` / `commit` are the suggestion's (`cost_of`); none: a slot not yet priced."""

    def __init__(self, budget: Cost = 0) -> None:
        self.budget = Decimal(budget)
        #: Consumed by observations stored (before this run, replayed, or reported by it).
        self.observed = Decimal(0)
        #: This run's suggestions: reserved or open, not yet observed.
        self.reserved = Decimal(0)
        #: Other runs' open suggestions, counted once at the start.
        self.foreign = Decimal(0)
        #: What a slot not yet priced counts: the cheapest task's cost (1 without tasks).
        self.cheapest = Decimal(1)
        #: The service refused a reserved slot: the open suggestions fill the budget.
        self.is_full = False

    def start(
        self,
        budget: Cost,
        *,
        observed: Cost,
        foreign: Cost,
        adopted: Cost,
        cheapest: Cost = 1,
    ) -> None:
        """The ledger at the start of the run: every open suggestion counts, ours adopted."""
        self.budget = Decimal(budget)
        self.observed = Decimal(observed)
        self.foreign = Decimal(foreign)
        self.reserved = Decimal(adopted)
        self.cheapest = Decimal(cheapest)
        self.is_full = False

    @property
    def committed(self) -> Decimal:
        """Observations plus open suggestions that count against the budget."""
        return self.observed + self.reserved + self.foreign

    def reserve(self) -> bool:
        """Take a slot for a new suggestion; False when the budget has none left."""
        if self.is_full or self.committed >= self.budget:
            return False
        self.reserved += self.cheapest
        return True

    def priced(self, suggestion: Suggestion) -> Suggestion:
        """The reserved slot's suggestion arrived: it costs its own cost (`cost_of`), not
        the cheapest. Returns it, for the caller to pass on."""
        self.reserved += cost_of(suggestion) - self.cheapest
        return suggestion

    def release(self, cost: Cost | None = None) -> None:
        """A slot that stores nothing: the suggestion was deleted, refused or never made."""
        self.reserved -= self.cheapest if cost is None else Decimal(cost)

    def commit(self, cost: Cost | None = None) -> None:
        """The slot's observation is stored."""
        spent = self.cheapest if cost is None else Decimal(cost)
        self.reserved -= spent
        self.observed += spent

    def refused(self) -> None:
        """The service refused a slot not yet priced: the rest of the budget is held by
        open suggestions (another run's, or this one's, once their costs are known)."""
        self.release()
        self.is_full = True

    def __repr__(self) -> str:
        full = ", full" if self.is_full else ""
        return (
            f"BudgetLedger(committed={self.committed}/{self.budget}: observed={self.observed}, "
            f"reserved={self.reserved}, foreign={self.foreign}{full})"
        )
