"""Old home of the test servers; they ship in :mod:`linewatch.connectors.testing` now."""
