"""Concentration units of air pollutants, and conversion between mass and volume ratios.

Sources report particulate matter in µg/m³ and gases in µg/m³, ppm or ppb; breakpoint tables
use one of those per pollutant. Gases convert at 25 °C and 1 atm (the reference conditions of
the US EPA and the EU directives), where one mole of an ideal gas fills 24.45 L:

    µg/m³ = ppb × M / 24.45        (M: molecular weight, g/mol; 1 ppm = 1000 ppb)

Particulate matter has no molecular weight: it converts only between mass units.
"""

from __future__ import annotations

import re

MOLAR_VOLUME_L = 24.45  # L/mol at 25 °C, 1 atm
MOLECULAR_WEIGHT = {"o3": 47.997, "no2": 46.0055, "so2": 64.066, "co": 28.010}  # g/mol

UGM3, MGM3, PPM, PPB = "ug/m3", "mg/m3", "ppm", "ppb"
_MASS = {UGM3: 1.0, MGM3: 1000.0}  # in µg/m³
_VOLUME = {PPB: 1.0, PPM: 1000.0}  # in ppb


def normalise_unit(text: object) -> str | None:
    """'µg/m³', 'μg/m3', 'ug/m^3', 'ppm', 'PPB'... -> one of UGM3, MGM3, PPM, PPB; None if unknown."""
    if not isinstance(text, str):
        return None
    unit = text.strip().lower().replace("μ", "u").replace("µ", "u").replace("³", "3").replace("^", "")
    unit = re.sub(r"\s+", "", unit)
    return unit if unit in (UGM3, MGM3, PPM, PPB) else None


def convert(value: float, pollutant: str, from_unit: str, to_unit: str) -> float | None:
    """`value` of `pollutant` in `from_unit` expressed in `to_unit` (normalised units), or None
    when the conversion has no meaning (a volume ratio of particulate matter)."""
    if from_unit == to_unit:
        return value
    if from_unit in _MASS and to_unit in _MASS:
        return value * _MASS[from_unit] / _MASS[to_unit]
    if from_unit in _VOLUME and to_unit in _VOLUME:
        return value * _VOLUME[from_unit] / _VOLUME[to_unit]
    weight = MOLECULAR_WEIGHT.get(pollutant)
    if weight is None or from_unit not in (*_MASS, *_VOLUME) or to_unit not in (*_MASS, *_VOLUME):
        return None
    if from_unit in _VOLUME:  # volume -> mass
        return value * _VOLUME[from_unit] * weight / MOLAR_VOLUME_L / _MASS[to_unit]
    return value * _MASS[from_unit] * MOLAR_VOLUME_L / weight / _VOLUME[to_unit]  # mass -> volume
