"""Array-task indices from every supported scheduler, and task -> shard ranges."""

import pytest

from fractalvid.pipelines.cluster import array_task
from fractalvid.pipelines.plan import parse_range, task_range


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "8"}, (3, 8)),
        ({"PBS_ARRAY_INDEX": "2"}, (2, None)),
        ({"SGE_TASK_ID": "1"}, (0, None)),  # 1-based
        ({"LSB_JOBINDEX": "4"}, (3, None)),  # 1-based
        ({"JOB_COMPLETION_INDEX": "0"}, (0, None)),
        ({"AWS_BATCH_JOB_ARRAY_INDEX": "7"}, (7, None)),
    ],
)
def test_scheduler_indices_are_zero_based(env, expected):
    assert array_task(env)[:2] == expected


def test_missing_or_bad_index_is_a_clear_error():
    with pytest.raises(ValueError, match="none of SLURM_ARRAY_TASK_ID"):
        array_task({})
    with pytest.raises(ValueError, match="is not a whole number"):
        array_task({"SLURM_ARRAY_TASK_ID": "x"})


@pytest.mark.parametrize("total", [1, 5, 17, 210])
@pytest.mark.parametrize("tasks", [1, 3, 16])
def test_tasks_cover_every_shard_once(total, tasks):
    covered = [i for t in range(tasks) for i in task_range(t, tasks, total)]
    assert covered == list(range(total))


def test_shard_range_parsing():
    assert parse_range("2:5", 10) == range(2, 5)
    assert parse_range(":3", 10) == range(0, 3)
    assert parse_range("7", 10) == range(7, 8)
    for bad in ("5:2", "0:11", "a:b"):
        with pytest.raises(ValueError, match="--shards"):
            parse_range(bad, 10)
