"""The pytest plugin that turns evaluations into a test session: options, parametrization, reporting."""
