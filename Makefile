# The two commands README promises; each sets up .venv first (quick when already done).
.PHONY: setup eval test

setup:
	bash scripts/setup

eval: setup
	.venv/bin/python -m pytest evals/ -n 4

test: setup
	.venv/bin/python -m pytest tests/ -n 2
