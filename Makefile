# Developer shortcuts. Install first: pip install torch==2.13.0 && pip install -e ".[dev]"
.PHONY: test test-slow lint samples

test:
	python -m pytest

test-slow:
	python -m pytest -m slow

lint:
	ruff check . && ruff format --check .

samples:
	python samples/make_samples.py
