"""bench/memory_model.py: the arithmetic `make bench-memory` chooses the functions' memory size with."""

import pytest

from bench.memory_model import (
    ARM64_USD_PER_GB_SECOND,
    USD_PER_REQUEST,
    Measured,
    cheapest,
    cost_usd,
    duration_seconds,
    extrapolate,
    fits_memory,
    fits_time,
)


def test_cpu_time_stretches_below_one_full_vcpu_and_waiting_does_not():
    run = Measured(wall_seconds=10.0, cpu_seconds=4.0, peak_rss_mb=100.0)
    assert run.wait_seconds == 6.0
    assert duration_seconds(run, 1769) == pytest.approx(10.0)
    assert duration_seconds(run, 3538) == pytest.approx(10.0)  # a second vCPU is idle: single-threaded
    assert duration_seconds(run, 884.5) == pytest.approx(6.0 + 8.0)  # half a vCPU: the CPU part twice as long
    assert duration_seconds(run, 1769, cpu_factor=1.5) == pytest.approx(6.0 + 6.0)


def test_time_spent_queueing_for_the_measuring_machines_cpu_is_not_waiting():
    run = Measured(wall_seconds=10.0, cpu_seconds=4.0, peak_rss_mb=100.0, runqueue_seconds=2.5)
    assert run.wait_seconds == 3.5
    assert duration_seconds(run, 1769) == pytest.approx(7.5)


def test_a_run_costs_its_gb_seconds_and_its_request():
    assert cost_usd(1024, 1.0) == pytest.approx(ARM64_USD_PER_GB_SECOND + USD_PER_REQUEST)
    assert cost_usd(512, 3.0) == pytest.approx(1.5 * ARM64_USD_PER_GB_SECOND + USD_PER_REQUEST)


def test_below_one_vcpu_the_cpu_part_costs_the_same_at_every_size():
    busy = Measured(wall_seconds=5.0, cpu_seconds=5.0, peak_rss_mb=100.0)
    costs = [cost_usd(size, duration_seconds(busy, size)) for size in (512, 768, 1024, 1536, 1769)]
    assert costs == pytest.approx([costs[0]] * 5)
    waiting = Measured(wall_seconds=5.0, cpu_seconds=0.0, peak_rss_mb=100.0)
    assert cost_usd(512, duration_seconds(waiting, 512)) < cost_usd(1024, duration_seconds(waiting, 1024))


def test_feasibility_keeps_the_headroom_and_the_time_margin():
    assert fits_memory(340.0, 512, headroom=1.5)
    assert not fits_memory(350.0, 512, headroom=1.5)
    assert fits_time(450.0, 900.0)
    assert not fits_time(451.0, 900.0)


def test_the_cheapest_feasible_size_is_chosen_and_none_feasible_is_an_error():
    costs = {512: 1.0, 768: 2.0, 1024: 2.0}
    assert cheapest([768, 1024], costs) == 1024  # a tie goes to the faster size
    assert cheapest([512, 768, 1024], costs) == 512
    with pytest.raises(ValueError, match="no memory size"):
        cheapest([], costs)


def test_a_larger_run_is_extrapolated_on_the_line_through_two_measured_ones():
    small = Measured(wall_seconds=1.0, cpu_seconds=0.5, peak_rss_mb=100.0, runqueue_seconds=0.1)
    large = Measured(wall_seconds=11.0, cpu_seconds=5.5, peak_rss_mb=300.0, runqueue_seconds=1.1)
    run = extrapolate(small, large, 10, 110, 210)
    assert (run.wall_seconds, run.cpu_seconds, run.peak_rss_mb, run.runqueue_seconds) == pytest.approx(
        (21.0, 10.5, 500.0, 2.1))
