# Confab's task runner. Each target is one script in scripts/; read them to see what runs.
.PHONY: dev ui test setup size bench fuzz

## Install what is missing, build, and serve the app on http://127.0.0.1:8787.
dev:
	@bash scripts/dev.sh

## Install what is missing and run every check and test (what CI runs).
test:
	@bash scripts/test.sh

## The page from `trunk serve` on :8080 (rebuilds on save) against wrangler dev on :8787.
ui:
	@bash scripts/ui.sh

## Only install the tools.
setup:
	@bash scripts/setup.sh

## Production bundle sizes (after a build).
size:
	@bash scripts/size.sh

## Benchmarks against a wrangler dev of their own (see docs/BENCHMARKS.md); minutes.
bench:
	@bash scripts/bench.sh

## Fuzz frame parsing + the room for FUZZ_SECONDS (default 600); see docs/FUZZING.md.
fuzz:
	@bash scripts/fuzz.sh
