"""Compatibility: the individuals chart now lives in :mod:`detectors.spc.imr`."""

from detectors.spc.imr import IMRChart, IndividualsChart

__all__ = ["IMRChart", "IndividualsChart"]
