"""Where records come from: the line simulator and the file, Kafka and other sources."""

__all__: list[str] = []
