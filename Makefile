# Two entry points: `make demo` (the main job, embedded store, no server) and `make test` (the whole suite,
# with a real OpenSearch node started and stopped around it). Both create the cached venv on first use.
.PHONY: demo test lint venv

venv:
	@scripts/venv.sh >/dev/null

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

lint:
	@"$$(scripts/venv.sh)/bin/ruff" check gcl_search tests benchmarks
