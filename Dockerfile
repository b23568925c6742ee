# The Linewatch worker image: `docker compose up` runs it against Kafka and InfluxDB.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY detectors detectors
COPY connectors connectors
COPY dashboards dashboards
RUN pip install --no-cache-dir '.[confluent,kafka,influx,webhook,ml,metrics]'
USER nobody
ENTRYPOINT ["linewatch"]
CMD ["run", "--config", "/config/plant.yaml"]
