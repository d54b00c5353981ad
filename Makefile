# Two entry points: `make demo` (the main job, embedded store, no server) and `make test` (the whole suite,
# with a real OpenSearch node started and stopped around it). Both create the cached venv on first use.
.PHONY: demo test lint venv

venv:
	@scripts/venv.sh >/dev/null

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

LINT_PATHS = gcl_search tests benchmarks scripts training

# `ruff check` (pyproject's [tool.ruff.lint]) and the formatter's check: `ruff format $(LINT_PATHS)` fixes the latter.
lint:
	@ruff="$$(scripts/venv.sh)/bin/ruff" && "$$ruff" check $(LINT_PATHS) && "$$ruff" format --check $(LINT_PATHS)
