"""Bringing a cached study up to date with what other service processes stored.

On a store several processes share (`BaseStore.is_shared`), the study this process
built falls behind whenever another process stores a suggestion or an observation of
the same experiment; `Engine._is_current` notices (the counts differ). Rebuilding the
study from the whole history costs O(history) per proposal (76 ms at 1,000 observations,
TPE, 4 parameters); catching up costs O(what changed): the new open suggestions become
pending trials and the new observations are told. Anything that is not a plain addition
(a deleted suggestion or observation, an observation updated or moved, an experiment
updated: the store's `history_rewrites` moved; a multitask experiment, whose scores move
with every observation) makes the caller rebuild instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigopt_service.engine._model import Model, fixed, tell
from sigopt_service.engine._multitask import TASK_COST
from sigopt_service.models import Experiment, Observation

if TYPE_CHECKING:
    from sigopt_service.store import BaseStore

#: Observations read per page while catching up.
_PAGE = 1000


def tell_shared(model: Model, observation: Observation) -> bool:
    """`tell` on a shared store, where an observation may name a suggestion this study
    never saw: one another process made (and maybe observed) since this study last
    looked. That is a finished point like any other, not a sign the study is wrong."""
    observed = observation.suggestion
    if observed is not None and int(observed) not in model.running:
        model.closed.add(int(observed))
    return tell(model, observation)


def catch_up(model: Model, experiment: Experiment, store: BaseStore) -> bool:
    """Add to `model` the suggestions and observations stored since it last looked;
    False when only a rebuild can make it match the store (the caller then rebuilds).
    True means the study holds exactly the store's open suggestions and observations."""
    if model.experiment_updated != experiment.updated or model.scores is not None:
        return False
    experiment_id = int(experiment.id)
    if store.history_rewrites(experiment_id) != model.rewrites:
        return False  # a delete, an update or a move elsewhere: no plain addition
    known = set(model.running) | model.closed
    for suggestion in store.open_suggestions(experiment_id):
        suggestion_id = int(suggestion.id)
        if suggestion_id in known:
            continue
        params = model.space.to_params(suggestion.assignments)
        if params is None:
            return False  # outside the space: the rebuild decides what to skip
        trial = fixed(model, params)
        if suggestion.task is not None:
            trial.set_user_attr(TASK_COST, suggestion.task.cost)
        model.running[suggestion_id] = trial
    # From the last id read, not the highest told: this process tells its own
    # observations one by one, and the other processes' below them would be skipped.
    cursor = model.read_through or None
    while True:
        page = store.list_observations(experiment_id, ascending=True, cursor=cursor, limit=_PAGE)
        for observation in page.items:
            if not tell_shared(model, observation):  # one told already is a no-op
                return False
        if not page.items:
            break
        cursor = model.read_through = int(page.items[-1].id)
        if not page.has_more:
            break
    model.suggestion_count = store.suggestion_count(experiment_id)
    # A suggestion deleted elsewhere would stay pending here; an observation committed
    # below the cursor (ids are taken before commits land) would stay untold.
    return len(model.running) == store.open_suggestion_count(experiment_id) and len(
        model.told
    ) == store.observation_count(experiment_id)
