"""Notification policy beside the AlertManager: routes, groups, timing, inhibition, silences.

The AlertManager (``pipeline/alerts.py``) decides what fires and resolves, in event time.
This package decides who hears about it and when, in processing time, with Prometheus
Alertmanager's names and semantics; ``connectors/receivers`` formats and delivers.
"""
