"""The planner's choice from a fit: tiles compete by predicted time, and only at sizes that were timed."""

from __future__ import annotations

from effrestore.runtime import planner

GIB = 1 << 30


def fit_with_rising_cost() -> planner.CallFit:
    """Seconds per pixel rising with size, as measured on CPUs: 64² cheapest per call, 512² cheapest overall."""
    sides_seconds = [(64, 0.010), (128, 0.030), (256, 0.100), (512, 0.420)]
    probes = [(side * side, 4 * side * side + 50 * 2**20) for side, _ in sides_seconds]
    return planner.CallFit.from_probes(probes, [(side * side, s) for side, s in sides_seconds])


def test_an_untimed_size_is_not_chosen_by_extrapolation() -> None:
    """The whole 2784×1856 image would be 2.1 s at the 512² cost per pixel; it was never timed, so tiles win."""
    fit = fit_with_rising_cost()
    layout = planner.Layout(1856, 2784, 16, 8)
    chosen = planner.plan(fit, layout, planner.Buffers(0, 0), 64 * GIB, "auto", baseline=0, max_batch=1)
    assert chosen.tile is not None and chosen.tile <= 512
    assert fit.predict_seconds(1856 * 2784) is None
    tiles = layout.calls(chosen.tile, 1)
    height, width = chosen.shape
    assert height <= chosen.tile and width <= chosen.tile  # fitted to the image, never larger than planned
    assert chosen.planned_seconds is not None
    assert abs(chosen.planned_seconds - tiles * fit.predict_seconds(height * width)) < 1e-9


def test_the_fastest_timed_tile_wins_and_a_batch_costs_its_tiles() -> None:
    fit = fit_with_rising_cost()
    layout = planner.Layout(2048, 2048, 16, 8)
    plans = {
        side: planner.plan(fit, layout, planner.Buffers(0, 0), 64 * GIB, side, baseline=0)
        for side in planner.TILE_LADDER
        if side <= 512 and layout.calls(side, 1)
    }
    chosen = planner.plan(fit, layout, planner.Buffers(0, 0), 64 * GIB, "auto", baseline=0, max_batch=4)
    fastest = min(plans.values(), key=lambda p: p.planned_seconds)
    assert chosen.tile == fastest.tile and chosen.batch > 1
    assert abs(chosen.planned_seconds - fastest.planned_seconds) < 1e-9


def test_a_small_image_is_run_whole_when_that_was_timed() -> None:
    fit = fit_with_rising_cost()
    chosen = planner.plan(fit, planner.Layout(256, 256, 16, 8), planner.Buffers(0, 0), 64 * GIB, "auto", baseline=0)
    assert chosen.tile is None and chosen.planned_seconds == fit.predict_seconds(256 * 256)


def test_engine_tiles_keep_their_profile_size_and_other_tiles_are_fitted() -> None:
    fitted, fixed = planner.Layout(1856, 2784, 32, 8), planner.Layout(1856, 2784, 32, 8, fitted=False)
    assert fitted.tile_shape(512) == (512, 456) and fixed.tile_shape(512) == (512, 512)
    assert fitted.calls(512, 1) == fixed.calls(512, 1) == 28
    assert fitted.tile_shape(None) == fixed.tile_shape(None) == (1856, 2784)


def fit_with_startups() -> planner.CallFit:
    """The rising-cost fit, with a first call of each new shape costing about a second more (a compile)."""
    timed = fit_with_rising_cost()
    startups = [(pixels, 0.8 + pixels / 2**20) for pixels, _ in timed.timings]
    return planner.CallFit.from_probes(timed.probes, timed.timings, startups)


def test_a_new_call_shape_pays_its_startup_once_and_a_ready_one_none() -> None:
    fit = fit_with_startups()
    layout = planner.Layout(1024, 1024, 16, 8)
    cold = planner.plan(fit, layout, planner.Buffers(0, 0), 64 * GIB, 384, baseline=0, max_batch=1)
    height, width = cold.shape
    warm_calls = layout.calls(384, 1) * fit.predict_seconds(height * width)
    assert abs(cold.planned_seconds - warm_calls - fit.predict_startup(height * width)) < 1e-9
    ready = {(1, height, width)}
    warm = planner.plan(fit, layout, planner.Buffers(0, 0), 64 * GIB, 384, baseline=0, max_batch=1, ready=ready)
    assert abs(warm.planned_seconds - warm_calls) < 1e-9


def test_an_ensemble_plans_eight_calls_a_tile_and_both_turns_of_a_tile() -> None:
    fit = fit_with_startups()
    layout = planner.Layout(1856, 2784, 32, 8)
    chosen = planner.plan(fit, layout, planner.Buffers(0, 0), 64 * GIB, 512, baseline=0, max_batch=1, ensemble=True)
    height, width = chosen.shape
    assert height != width and layout.call_shapes(512, 1, ensemble=True) == {(1, height, width), (1, width, height)}
    calls = 8 * layout.calls(512, 1) * fit.predict_seconds(height * width)
    assert abs(chosen.planned_seconds - calls - 2 * fit.predict_startup(height * width)) < 1e-9


def test_a_batch_that_does_not_divide_a_tile_row_plans_a_second_shape() -> None:
    layout = planner.Layout(1024, 1536, 0, 8)
    assert layout.per_row(512) == 3
    assert layout.call_shapes(512, 2) == {(2, 512, 512), (1, 512, 512)}
    assert layout.call_shapes(512, 3) == {(3, 512, 512)}


def test_startups_are_interpolated_and_held_flat_past_the_probes() -> None:
    fit = fit_with_startups()
    smallest, largest = min(fit.startups), max(fit.startups)
    assert fit.predict_startup(1) == smallest[1] and fit.predict_startup(largest[0] * 4) == largest[1]
    assert planner.CallFit.from_probes(fit.probes, fit.timings).predict_startup(4096) == 0.0


def test_the_pace_follows_restores_in_proportion_to_their_length_and_keeps_the_tile() -> None:
    fit = fit_with_startups()
    long_slow = fit.paced(measured=2 * planner.PACE_HORIZON_S, planned=planner.PACE_HORIZON_S)
    assert long_slow.pace == 2.0
    short_slow = fit.paced(measured=planner.PACE_HORIZON_S / 4, planned=planner.PACE_HORIZON_S / 8)
    assert 1.0 < short_slow.pace < 2.0  # a short restore is a small sample: it moves the pace part way
    assert fit.paced(measured=1e6, planned=1.0).pace == planner.PACE_LIMITS[1]
    layout = planner.Layout(2048, 2048, 16, 8)
    plans = [planner.plan(f, layout, planner.Buffers(0, 0), 64 * GIB, "auto", baseline=0) for f in (fit, long_slow)]
    assert plans[0].tile == plans[1].tile
    assert abs(plans[1].planned_seconds - 2 * plans[0].planned_seconds) < 1e-9
    probe = planner.Probe(4096, 4 * 2**20, 0.01, 0.5)
    assert planner.CallFit.extended(long_slow, probe).pace == 2.0  # a new probe keeps what restores measured
