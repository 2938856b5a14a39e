"""Root conftest: the embedding-claims pytest plugin, loaded for both evals/ and tests/."""

pytest_plugins = ["harness.generation", "harness.plugin", "harness.claims_plugin", "harness.ledger_plugin"]
