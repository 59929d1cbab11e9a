"""The budget ledger: one object whose methods are the only way the budget moves."""

from __future__ import annotations

from orchestrator.coordinator import BudgetLedger


class TestBudgetLedger:
    """reserve / release / commit / refused keep `committed` within the budget."""

    def test_reserve_stops_at_the_budget(self) -> None:
        """Observations, foreign open suggestions and reservations together fill it."""
        ledger = BudgetLedger()
        ledger.start(5, observed=2, foreign=1, adopted=1)
        assert ledger.reserve() is True
        assert ledger.reserve() is False
        assert repr(ledger) == ("BudgetLedger(committed=5/5: observed=2, reserved=2, foreign=1)")

    def test_commit_and_release(self) -> None:
        """A committed slot becomes an observation; a released one frees room."""
        ledger = BudgetLedger()
        ledger.start(2, observed=0, foreign=0, adopted=0)
        assert ledger.reserve() and ledger.reserve()
        ledger.commit()
        ledger.release()
        assert (ledger.observed, ledger.reserved, ledger.committed) == (1, 0, 1)
        assert ledger.reserve()

    def test_refused_means_full(self) -> None:
        """The service refused a reservation: released, and nothing more is reserved."""
        ledger = BudgetLedger()
        ledger.start(10, observed=0, foreign=0, adopted=0)
        assert ledger.reserve()
        ledger.refused()
        assert ledger.reserve() is False
        assert repr(ledger) == (
            "BudgetLedger(committed=0/10: observed=0, reserved=0, foreign=0, full)"
        )
