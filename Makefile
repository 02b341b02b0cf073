# buildx-lab. The two commands a newcomer needs:
#   make lab    the main job: both seed bugs on the default (quick) matrix, with a summary table
#   make test   the test suite: unit tests, then every scenario on its full matrix
# Both set up everything first (npm packages, Docker engine, images, Buildx builds), idempotently.
LAB := node bin/buildx-lab.mjs

.PHONY: lab test setup unit scenarios scenario bench doctor clean typecheck browser
lab: node_modules
	$(LAB) run --matrix quick

test: node_modules browser
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

# make bench [FULL=1] [COLD=1]: warm figures; FULL adds the full seed matrices, COLD the cold build costs
bench: node_modules
	npx tsx harness/bench/bench.ts $(if $(FULL),--full) $(if $(COLD),--cold)

doctor: node_modules
	$(LAB) doctor

typecheck: node_modules
	npx tsc --noEmit -p .

clean: node_modules
	$(LAB) clean

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

# The HTML report is checked in a real browser: Debian's headless Chromium.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ -r /etc/debian_version ] && [ "$$(id -u)" = 0 ] && \
	  echo "[setup] installing Debian's chromium for the HTML report test" && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "[setup] chromium missing and not installable here: the HTML report test will fail with how to fix it"
