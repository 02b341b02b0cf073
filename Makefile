# buildx-lab. The two commands a newcomer needs:
#   make lab    the main job: both seed bugs on the default (quick) matrix, with a summary table
#   make test   the test suite: unit tests, then every scenario on its full matrix
# Both set up everything first (npm packages, Docker engine, images, Buildx builds), idempotently.
LAB := node bin/buildx-lab.mjs

.PHONY: lab test setup unit scenarios scenario bench doctor clean typecheck
lab: node_modules
	$(LAB) run --matrix quick

test: node_modules
	$(LAB) test

setup: node_modules
	$(LAB) setup

unit: node_modules
	npx vitest run --project unit

scenarios: node_modules
	$(LAB) run --matrix full

# make scenario S=pull-stream [ARGS='--buildx 0.20.1']
scenario: node_modules
	$(LAB) run $(S) --matrix full $(ARGS)

bench: node_modules
	npx tsx harness/bench/bench.ts

doctor: node_modules
	$(LAB) doctor

typecheck: node_modules
	npx tsc --noEmit -p .

clean: node_modules
	$(LAB) clean

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules
