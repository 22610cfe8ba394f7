"""``generate --time-limit``: durations as people and schedulers write them, and the stop
that comes at whole shards when the time would run out."""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PARTS = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


class TimeLimitReached(RuntimeError):
    """The run stopped before a shard it could not finish by the time limit; ``done`` of
    ``total`` shards of the data set are done, and a rerun resumes."""

    def __init__(self, done: int, total: int):
        self.done, self.total = done, total
        super().__init__(f"stopped at the time limit: {done} of {total} shards of the data set "
                         "are done; rerun the same command to resume")


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``45m``, ``2h30m``, ``1d2h``, a bare number of seconds,
    ``HH:MM:SS``, ``MM:SS``, or SLURM's ``D-HH:MM:SS``; ValueError naming the text."""
    raw = str(text).strip().lower()
    days = 0.0
    if re.fullmatch(r"\d+-\d+(:\d+){0,2}", raw):  # SLURM's D-HH[:MM[:SS]]
        head, raw = raw.split("-", 1)
        days = float(head)
        raw = ":".join((raw.split(":") + ["0", "0"])[:3])
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    elif re.fullmatch(r"\d+(:\d{1,2}){1,2}", raw):
        parts = [int(p) for p in raw.split(":")]
        if any(p >= 60 for p in parts[1:]):
            raise ValueError(f"--time-limit {text!r}: minutes and seconds run 0..59")
        seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    elif raw and _PARTS.sub("", raw) == "":
        seconds = sum(float(n) * _UNITS[u] for n, u in _PARTS.findall(raw))
    else:
        raise ValueError(f"--time-limit {text!r}: expected a duration such as 90s, 45m, 2h30m "
                         "or HH:MM:SS")
    seconds += days * 86400
    if seconds <= 0:
        raise ValueError(f"--time-limit {text!r}: must be more than zero")
    return seconds


def slurm_margin(seconds: float) -> float:
    """The ``--time-limit`` a task takes under a job limit of ``seconds``: a tenth less, and
    at least a minute less (half, under two minutes), for starting up and the last upload."""
    if seconds <= 120:
        return max(1.0, seconds / 2)
    return seconds - max(60.0, seconds / 10)
