from opscentre.core.clock import new_clock, sim_now


def test_without_a_clock_simulated_time_is_wall_time():
    assert sim_now(None, 1000.0) == 1000.0


def test_simulated_time_runs_speed_times_faster():
    clock = new_clock(None, wall_now=1000.0, speed=60, scenario=None, seed=1)
    assert sim_now(clock, 1010.0) == 1000.0 + 600.0


def test_a_restart_never_moves_simulated_time_backwards():
    first = new_clock(None, wall_now=1000.0, speed=60, scenario=None, seed=1)
    # an hour of wall time later at 60x the simulation is 60 h ahead; restart at speed 1
    second = new_clock(first, wall_now=4600.0, speed=1, scenario=None, seed=1)
    assert sim_now(second, 4600.0) == sim_now(first, 4600.0)
    assert sim_now(second, 4601.0) > sim_now(first, 4600.0)


def test_restarting_the_same_scenario_keeps_its_start():
    first = new_clock(None, 1000.0, 60, "storm-2010-04", 1)
    second = new_clock(first, 2000.0, 60, "storm-2010-04", 1)
    assert second["scenario_start"] == first["scenario_start"]
