"""Array-job task indices from the common schedulers, all mapped to 0-based (task, count)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..shards.slots import whole_number_in

# (index variable, count variable or None, True when the index is 1-based)
SCHEDULERS = (
    ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", False),
    ("PBS_ARRAY_INDEX", None, False),
    ("SGE_TASK_ID", None, True),
    ("LSB_JOBINDEX", None, True),
    ("JOB_COMPLETION_INDEX", None, False),
    ("AWS_BATCH_JOB_ARRAY_INDEX", None, False),
)


def array_task(env: Mapping[str, str] | None = None) -> tuple[int, int | None, str]:
    """(0-based task index, task count if the scheduler tells it, variable name).

    Raises ValueError when no scheduler's variable is set.
    """
    env = os.environ if env is None else env
    for var, count_var, one_based in SCHEDULERS:
        raw = env.get(var, "").strip()
        if not raw or raw.lower() in ("undefined", "none"):
            continue
        if one_based and raw == "0":  # LSF sets LSB_JOBINDEX=0 outside array jobs
            continue
        index = whole_number_in(var, raw) - (1 if one_based else 0)
        counted = env.get(count_var, "").strip() if count_var else ""
        count = whole_number_in(count_var, counted) if counted else None
        if index < 0 or (count is not None and index >= count):
            top = f"{count - 1 + one_based}" if count is not None else "..."
            raise ValueError(f"{var}={raw!r}: outside {int(one_based)}..{top}")
        return index, count, var
    names = ", ".join(v for v, _, _ in SCHEDULERS)
    raise ValueError(f"--array-task auto: none of {names} is set")
