"""Compatibility: the individuals chart now lives in :mod:`linewatch.detectors.spc.imr`."""

from linewatch.detectors.spc.imr import IMRChart, IndividualsChart

__all__ = ["IMRChart", "IndividualsChart"]
