"""Wires connectors and detectors into a running job: config, runner, alerts, CLI."""

__all__: list[str] = []
