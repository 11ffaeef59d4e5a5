"""How long a screening still needs: stage costs per coordination type measured in this run, and before the
first of a stage finishes, the mean cost measured on the whole library build (``data/build-store``, fast
settings, 2 workers on the 2-core development machine).

Per coordination type the work is a chain (templates → La complex → the other metals, one after another),
so a run cannot finish before its longest remaining chain, nor before its remaining work divided among the
workers; the estimate is the larger of the two.  Time already spent on a chain's running task is taken off
(up to :data:`RUNNING_CREDIT` of its expected cost), so the estimate falls while a long task runs.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

TEMPLATES, LA_COMPLEX, SWAPS, REFERENCES = "Architector templates", "La optimisations", "swaps", "references"
STAGE_ORDER = (TEMPLATES, LA_COMPLEX, SWAPS, REFERENCES)
#: Mean seconds per task of each stage and coordination type over the library build (`fast`, 2 workers on
#: the 2-core development machine; per type: 92–115 template builds and La complexes, 1,380–1,725 swapped
#: complexes; 115 free ligands), replaced by this run's own mean once one has finished.  A 4L task costs
#: 3–20 times a 1L6W one, so one number per stage was not enough (``benchmarks/bench_eta.py``).
PRIOR_COST_S: dict[tuple[str, str], float] = {
    (TEMPLATES, "1L6W"): 24.7, (TEMPLATES, "2L4W"): 32.8, (TEMPLATES, "3L2W"): 48.7, (TEMPLATES, "4L"): 65.9,
    (TEMPLATES, "8W"): 7.4,
    (LA_COMPLEX, "1L6W"): 3.5, (LA_COMPLEX, "2L4W"): 10.4, (LA_COMPLEX, "3L2W"): 27.5, (LA_COMPLEX, "4L"): 70.3,
    (LA_COMPLEX, "8W"): 1.0,
    (SWAPS, "1L6W"): 0.6, (SWAPS, "2L4W"): 1.3, (SWAPS, "3L2W"): 2.9, (SWAPS, "4L"): 4.6, (SWAPS, "8W"): 0.1,
    (REFERENCES, ""): 1.9,
}
#: Share of a task's expected cost that time already spent on it may take off the estimate: a task that
#: runs past its expected cost is still counted as not quite done.
RUNNING_CREDIT = 0.9


@dataclass
class StageClock:
    """Measured task costs per stage and coordination type, and the estimate of the time left (s)."""

    workers: int = 1
    measured: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def record(self, stage: str, seconds: float, ctype: str = "") -> None:
        self.measured.setdefault((stage, ctype), []).append(max(float(seconds), 0.0))

    def cost(self, stage: str, ctype: str = "") -> float:
        """Seconds one task of ``stage`` for ``ctype`` takes: this run's mean, else the library build's."""
        done = self.measured.get((stage, ctype))
        if done:
            return statistics.fmean(done)
        if (stage, ctype) in PRIOR_COST_S:
            return PRIOR_COST_S[(stage, ctype)]
        same_stage = [v for (s, _), v in PRIOR_COST_S.items() if s == stage]
        return max(same_stage) if same_stage else PRIOR_COST_S[(SWAPS, "4L")]

    def remaining_s(self, chains: dict[str, Counter], ctypes: dict[str, str] | None = None,
                    running_s: dict[str, float] | None = None) -> float:
        """Seconds until the tasks still open in ``chains`` (unit -> stage -> tasks) are done.  ``ctypes``
        gives each unit's coordination type; ``running_s`` how long each unit's current task has run."""
        ctypes, running_s = ctypes or {}, running_s or {}
        per_chain = []
        for unit, left in chains.items():
            ctype = ctypes.get(unit, "")
            total = sum(n * self.cost(stage, ctype) for stage, n in left.items())
            first = next((self.cost(stage, ctype) for stage in STAGE_ORDER if left.get(stage)), 0.0)
            per_chain.append(total - min(running_s.get(unit, 0.0), RUNNING_CREDIT * first))
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
