"""How long a screening still needs: stage costs measured in this run, and before the first of a stage
finishes, the mean cost measured on the whole library build (``data/build-store``, fast settings, 2 workers
on the 2-core development machine).

Per coordination type the work is a chain (templates → La complex → the other metals, one after another),
so a run cannot finish before its longest remaining chain, nor before its remaining work divided among the
workers; the estimate is the larger of the two.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

TEMPLATES, LA_COMPLEX, SWAPS, REFERENCES = "Architector templates", "La optimisations", "swaps", "references"
STAGE_ORDER = (TEMPLATES, LA_COMPLEX, SWAPS, REFERENCES)
#: Mean seconds per task of each stage over the library build (392 template builds, 392 La complexes,
#: 5,880 swapped complexes, 115 free ligands; `fast`); replaced by this run's own mean once one has finished.
PRIOR_COST_S = {TEMPLATES: 44.0, LA_COMPLEX: 30.0, SWAPS: 2.5, REFERENCES: 2.0}


@dataclass
class StageClock:
    """Measured task costs per stage, and the estimate of the time left (s)."""

    workers: int = 1
    measured: dict[str, list[float]] = field(default_factory=dict)

    def record(self, stage: str, seconds: float) -> None:
        self.measured.setdefault(stage, []).append(max(float(seconds), 0.0))

    def cost(self, stage: str) -> float:
        """Seconds one task of ``stage`` takes: this run's mean, else the library build's."""
        done = self.measured.get(stage)
        return statistics.fmean(done) if done else PRIOR_COST_S.get(stage, PRIOR_COST_S[SWAPS])

    def remaining_s(self, chains: dict[str, Counter]) -> float:
        """Seconds until the tasks still open in ``chains`` (unit -> stage -> tasks) are done."""
        per_chain = [sum(n * self.cost(stage) for stage, n in left.items()) for left in chains.values()]
        if not per_chain:
            return 0.0
        return max(max(per_chain), sum(per_chain) / max(self.workers, 1))


def describe_stages(open_tasks: Counter) -> str:
    """What is running, in series order: ``Architector templates (2), swaps (30)``."""
    return ", ".join(f"{stage} ({open_tasks[stage]})" for stage in STAGE_ORDER if open_tasks.get(stage))


def format_duration(seconds: float | None) -> str:
    """``1 min 20 s``, ``45 s``, ``2 h 05 min``; an empty string for None."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"
