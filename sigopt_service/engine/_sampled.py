"""The model-free side of the engine: random draws and the grid walk.

`random` experiments draw from a precomputed `Space` (no study); `grid` experiments
return point `suggestion_count % grid_size`, skipping points some observation or open
suggestion already covers. The `Engine` caches one `Sampled` per experiment.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from sigopt_service.engine.space import Space, grid_point, grid_size
from sigopt_service.models import Assignments, AssignmentValue

GridKey = tuple[tuple[str, AssignmentValue], ...]


def grid_key(assignments: Assignments) -> GridKey:
    """A hashable, order-free form of a point, to look it up among the covered ones."""
    return tuple(sorted(assignments.items()))


@dataclass
class Sampled:
    """Cached state of a model-free (random or grid) experiment."""

    experiment_updated: int
    space: Space
    rng: random.Random
    # Grid experiments only: values per parameter, computed once rather than per call.
    grid_axes: list[tuple[str, list[AssignmentValue]]] | None = None
    #: Grid points some observation or open suggestion holds, read from the store once and
    #: then kept up to date by `propose` and `observed` (deletions invalidate the cache).
    grid_covered: set[GridKey] | None = None
    #: Suggestions created so far: where the grid walk resumes, and SigOpt's wrap index.
    grid_count: int = 0

    def is_grid_warm(self) -> bool:
        """Whether the covered grid points are known (no store read needed)."""
        return self.grid_covered is not None

    def cover(self, taken: Iterable[Assignments], suggestion_count: int) -> None:
        """Start the grid walk from the store's history: `taken` are the points of every
        observation and open suggestion, `suggestion_count` all suggestions ever made."""
        self.grid_covered = {grid_key(a) for a in taken}
        self.grid_count = suggestion_count

    def next_grid_point(self) -> Assignments:
        """The first point, in grid order from where the count of suggestions left off,
        that no observation or open suggestion covers; past full coverage SigOpt wraps
        around. O(1) per call while nothing is deleted (the covered set is kept warm).
        Call `cover` first."""
        if self.grid_axes is None:
            self.grid_axes = self.space.grid_axes()
        axes = self.grid_axes
        covered = self.grid_covered
        assert covered is not None, "cover() before next_grid_point()"
        size = grid_size(axes)
        start, self.grid_count = self.grid_count, self.grid_count + 1
        if len(covered) < size:
            for step in range(size):
                point = grid_point(axes, (start + step) % size)
                key = grid_key(point)
                if key not in covered:
                    covered.add(key)
                    return point
        return grid_point(axes, start % size)
