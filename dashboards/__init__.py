"""Grafana boards as code and their provisioning; depends only on the storage schema."""

__all__: list[str] = []
