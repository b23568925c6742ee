"""Line simulator: wire records of a manufacturing line, with known faults injected.

Modules, one job each: :mod:`.specs` (the line: stations, characteristics, parameters,
defects and their drivers, with their checks and bounds), :mod:`.faults` (the fault
kinds, their text form, validation against a line and the ground-truth windows) and
:mod:`.run` (the deterministic simulation, and :class:`Simulation`, a line with its
faults, seed and start, which is the config's ``simulation:`` section). The public names
are re-exported here.

>>> from datetime import UTC, datetime
>>> from linewatch.connectors import simulator as sim
>>> line = sim.welding_line()
>>> line.drivers()  # the cause-and-effect ground truth
{'weld-2/welder-07/tip_temp_c': ('final/porosity',)}
>>> start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
>>> records = sim.simulate(line, start, 60, sim.welding_faults(), seed=1)
>>> sum(1 for _ in records)  # 120 parts x 8 records + 2 lots x 3 defect codes
966
"""

from linewatch.connectors.simulator.faults import (
    FAULT_KINDS,
    FaultSim,
    FaultText,
    fault_windows,
    format_fault,
    parse_fault,
    validate_faults,
    welding_faults,
)
from linewatch.connectors.simulator.run import Simulation, simulate
from linewatch.connectors.simulator.specs import (
    MAX_DRIVEN_RATE,
    CharacteristicSim,
    DefectSim,
    LineSim,
    ParameterSim,
    StationSim,
    welding_line,
)

__all__ = [
    "FAULT_KINDS",
    "MAX_DRIVEN_RATE",
    "CharacteristicSim",
    "DefectSim",
    "FaultSim",
    "FaultText",
    "LineSim",
    "ParameterSim",
    "Simulation",
    "StationSim",
    "fault_windows",
    "format_fault",
    "parse_fault",
    "simulate",
    "validate_faults",
    "welding_faults",
    "welding_line",
]
