"""What one run of a function costs at a given Lambda memory size, from figures measured on this machine.

Pure arithmetic (bench/bench_memory.py feeds it; tests/unit/test_memory_model.py checks it).

Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB ("Configure Lambda
function memory", docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). Our functions are
single-threaded, so above 1,769 MB the extra CPU is idle. A run's measured time splits into CPU time of
the function's own process, which stretches by 1,769/M below a full vCPU, and waiting (the database,
S3, DynamoDB, Amazon), which does not depend on the memory size:

    duration(M) = wait + cpu * cpu_factor * max(1, 1769 / M)

``cpu_factor`` is how much slower one Graviton vCPU runs this code than one core of the machine that
measured it (1.0 unless a better figure is known). The cost of a run is its GB-seconds plus the request:

    cost(M) = M / 1024 * duration(M) * price_per_gb_second + price_per_request

A consequence worth knowing: below 1,769 MB, M * cpu * 1769 / M does not depend on M, so the CPU part
costs the same at every size and only the waiting part grows with M. The cheapest size is then the
smallest that is feasible (fits the memory, finishes in time), whatever cpu_factor is.
"""

from __future__ import annotations

from dataclasses import dataclass

# arm64 duration price, first tier (the first 7.5 billion GB-s a month): $0.0000133334 per GB-s
# ($0.0000000017 per ms at 128 MB), and $0.20 per million requests, https://aws.amazon.com/lambda/pricing/
# (looked up in 2026). The copy found shows US East's table; Europe (Ireland) lists the same Arm price
# as far as we know, but the region selector there is the authority.
ARM64_USD_PER_GB_SECOND = 0.0000133334
USD_PER_REQUEST = 0.20 / 1_000_000
FULL_VCPU_MB = 1769
# the sizes compared: from Lambda's smallest useful for this code to past one full vCPU
MEMORY_SIZES_MB = (512, 768, 1024, 1536, 1769, 2048)
# Peak RSS as measured, times this, must fit. Why half as much again: Lambda's "Max Memory Used"
# counts the whole execution environment (the runtime interface client and its buffers besides our
# process's own), a real shop has more marketplaces than the benchmark's one (a feed document and
# its plan per marketplace), and Python's allocator does not give memory back evenly from run to run.
# Running out of memory kills the run (its claims wait for the lease to expire, and the next run
# claims as much again), while the extra memory costs only the waiting part of each run (see above).
MEMORY_HEADROOM = 1.5


@dataclass(frozen=True)
class Measured:
    """One run as measured: wall and CPU seconds of the function's process, its peak RSS, and how long
    it waited for a CPU of the measuring machine (a busy shared machine's delay, not the services')."""

    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    runqueue_seconds: float = 0.0

    @property
    def wait_seconds(self) -> float:
        """Waiting for the database and the remote services: what no memory size shortens."""
        return max(0.0, self.wall_seconds - self.cpu_seconds - self.runqueue_seconds)


def extrapolate(small: Measured, large: Measured, small_rows: int, large_rows: int, rows: int) -> Measured:
    """A run of ``rows`` rows, on the line through two measured runs (offers grown in proportion)."""
    def at(a: float, b: float) -> float:
        return b + (b - a) * (rows - large_rows) / (large_rows - small_rows)

    return Measured(wall_seconds=at(small.wall_seconds, large.wall_seconds),
                    cpu_seconds=at(small.cpu_seconds, large.cpu_seconds),
                    peak_rss_mb=at(small.peak_rss_mb, large.peak_rss_mb),
                    runqueue_seconds=at(small.runqueue_seconds, large.runqueue_seconds))


def cpu_stretch(memory_mb: int) -> float:
    """How much longer CPU work takes at this size than on one full vCPU."""
    return max(1.0, FULL_VCPU_MB / memory_mb)


def duration_seconds(run: Measured, memory_mb: int, cpu_factor: float = 1.0) -> float:
    return run.wait_seconds + run.cpu_seconds * cpu_factor * cpu_stretch(memory_mb)


def cost_usd(memory_mb: int, seconds: float) -> float:
    """One invocation of ``seconds`` at ``memory_mb``: its GB-seconds and its request."""
    return memory_mb / 1024 * seconds * ARM64_USD_PER_GB_SECOND + USD_PER_REQUEST


def fits_memory(peak_rss_mb: float, memory_mb: int, headroom: float = MEMORY_HEADROOM) -> bool:
    return peak_rss_mb * headroom <= memory_mb


def fits_time(seconds: float, limit_seconds: float, margin: float = 0.5) -> bool:
    """Within ``margin`` of the limit: a run may take this long and still have as much again in reserve."""
    return seconds <= limit_seconds * margin


def cheapest(feasible_sizes: list[int], cost_by_size: dict[int, float]) -> int:
    """The feasible size with the lowest cost; on a tie, the larger (it runs faster for the same money)."""
    if not feasible_sizes:
        raise ValueError("no memory size is feasible")
    return min(feasible_sizes, key=lambda size: (cost_by_size[size], -size))
