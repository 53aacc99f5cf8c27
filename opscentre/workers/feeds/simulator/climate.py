"""A plausible climate picked from the city's latitude (never from its name).

Low latitudes (Rio, 23°S) get a warm climate with few, short, intense convective showers
that peak in the afternoon; high latitudes (Copenhagen, 56°N) a cool one with more frequent,
longer, weaker and wider rain. Between 25° and 45° the parameters blend linearly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Climate:
    mean_temp_c: float  # annual mean
    seasonal_amplitude_c: float  # half the difference between warmest and coldest month
    diurnal_half_range_c: float  # half the typical day-night difference
    warmest_day_of_year: int
    wet_day_probability: float  # chance that a simulated day has showers at all
    cells_per_hour: float  # mean rain cells born per hour on a wet day (before diurnal shape)
    intensity_median_mmh: float  # peak intensity of a cell: lognormal(median, sigma)
    intensity_sigma: float
    radius_km: tuple[float, float]  # Gaussian footprint sigma, uniform in this range
    lifetime_min: tuple[float, float]
    afternoon_weight: float  # 0: no diurnal cycle of showers; 1: mostly afternoon convection
    drift_toward_deg: float  # bearing the rain moves toward (clockwise from north)
    drift_speed_kmh: float
    base_wind_ms: float


def climate_for_latitude(latitude: float) -> Climate:
    a = abs(latitude)
    w = min(1.0, max(0.0, (a - 25.0) / 20.0))  # 0 tropical/subtropical, 1 temperate

    def blend(tropical: float, temperate: float) -> float:
        return tropical + (temperate - tropical) * w

    return Climate(
        mean_temp_c=27.0 - 0.45 * max(0.0, a - 15.0),
        seasonal_amplitude_c=0.5 + 0.2 * max(0.0, a - 10.0),
        diurnal_half_range_c=blend(4.5, 3.5),
        warmest_day_of_year=20 if latitude < 0 else 200,
        wet_day_probability=blend(0.4, 0.5),
        cells_per_hour=blend(0.6, 0.12),
        intensity_median_mmh=blend(12.0, 2.5),
        intensity_sigma=blend(1.1, 0.7),
        radius_km=(blend(2.5, 4.0), blend(6.0, 10.0)),
        lifetime_min=(blend(40.0, 90.0), blend(150.0, 300.0)),
        afternoon_weight=blend(0.8, 0.25),
        drift_toward_deg=blend(45.0, 80.0),
        drift_speed_kmh=blend(15.0, 30.0),
        base_wind_ms=blend(3.0, 5.5),
    )
