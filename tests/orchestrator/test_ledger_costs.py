"""The budget ledger in cost (issue 15 item 5): a multitask experiment's observations and
open suggestions each count their task's cost, in decimal; a reserved slot counts the
cheapest task until its suggestion's task is known."""

from __future__ import annotations

from decimal import Decimal

from orchestrator.coordinator import BudgetLedger
from orchestrator.coordinator._ledger import cost_of
from sigopt_service.models import Suggestion, Task

CHEAP, FULL = Task(name="cheap", cost=0.1), Task(name="full", cost=1.0)


def suggestion(task: Task | None) -> Suggestion:
    return Suggestion(id="1", experiment="1", assignments={"x": 0.5}, task=task)


def test_costs_are_exact_decimals() -> None:
    assert cost_of(suggestion(CHEAP)) == Decimal("0.1")
    assert cost_of(suggestion(None)) == 1
    assert sum((cost_of(suggestion(CHEAP)) for _ in range(10)), Decimal(0)) == 1


def test_a_slot_counts_the_cheapest_until_priced() -> None:
    ledger = BudgetLedger()
    ledger.start(1, observed=Decimal("0.7"), foreign=0, adopted=0, cheapest=Decimal("0.1"))
    assert ledger.reserve() and ledger.reserve()  # 0.7 + 0.1 < 1, then 0.8 + 0.1 < 1
    assert ledger.committed == Decimal("0.9")
    assert ledger.priced(suggestion(FULL)).task == FULL  # the first one is of cost 1
    assert ledger.committed == Decimal("1.8")
    assert ledger.reserve() is False
    ledger.release()  # the second request failed: its placeholder goes
    ledger.commit(cost_of(suggestion(FULL)))
    assert (ledger.observed, ledger.reserved) == (Decimal("1.7"), 0)


def test_refused_means_the_open_suggestions_hold_the_rest() -> None:
    ledger = BudgetLedger()
    ledger.start(2, observed=Decimal("1.5"), foreign=0, adopted=0, cheapest=Decimal("0.1"))
    assert ledger.reserve()
    ledger.refused()
    assert ledger.reserved == 0 and ledger.reserve() is False


def test_without_tasks_every_slot_costs_one() -> None:
    ledger = BudgetLedger()
    ledger.start(2, observed=0, foreign=0, adopted=0)
    assert ledger.reserve() and ledger.priced(suggestion(None)) and ledger.reserve()
    assert ledger.reserve() is False
    ledger.commit()
    ledger.commit()
    assert ledger.observed == 2 and ledger.committed == 2
