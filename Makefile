# buildx-lab. The two commands a newcomer needs:
#   make lab     the main job: both seed bugs on the default (quick) matrix, with a summary table
#   make test    the test suite: lint, unit tests, integration tests, every scenario and case
# Both set up everything first (Node, npm packages, Docker engine, images, Buildx builds), idempotently.
#
# Node: the lab needs Node >= 22 (testcontainers 12, vitest 5). On a machine with an older Node, the
# npm registry's `node` package (Node 24 LTS) is installed into .lab/node and every recipe runs under it.
NODE_LTS := 24.21.0
HOST_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
ifeq ($(shell [ "$(HOST_NODE_MAJOR)" -ge 22 ] 2>/dev/null && echo host),host)
NODE_RUNTIME :=
else
NODE_RUNTIME := .lab/node/node_modules/.bin/node
export PATH := $(CURDIR)/.lab/node/node_modules/.bin:$(PATH)
endif
LAB := node bin/buildx-lab.mjs

.PHONY: lab test setup unit lint mutation scenarios scenario bench doctor clean typecheck browser
lab: node_modules
	$(LAB) run --matrix quick

test: node_modules browser
	$(LAB) test

setup: node_modules
	$(LAB) setup

unit: node_modules
	npx vitest run --project unit

lint: node_modules
	$(LAB) test --only lint

# make mutation [FORCE=1]: mutation testing of the pure modules (stryker.config.mjs; report in
# reports/mutation/mutation.html), failing below the break threshold. Incremental: only the mutants whose code
# or tests changed run again (minutes); a full run took 30 min on this 2-core machine under load. A surviving
# mutant of module-level code (the case schema, the redaction patterns) is not tried again by an incremental
# run: FORCE=1 tries every mutant.
mutation: node_modules
	npx stryker run $(if $(FORCE),--force)

scenarios: node_modules
	$(LAB) run --matrix full

# make scenario S=pull-stream [ARGS='--buildx 0.20.1']
scenario: node_modules
	$(LAB) run $(S) --matrix full $(ARGS)

# make bench [FULL=1] [COLD=1 [ENGINES=1]] [TEST=1]: warm figures; FULL adds the full seed matrices; COLD
# starts from nothing (private empty caches and engine) for cold make lab and the offline bundle; ENGINES
# adds the cold build of every engine of the axis; TEST times a cold make test from nothing (over an hour)
bench: node_modules
	npx tsx harness/bench/bench.ts $(if $(FULL),--full) $(if $(COLD),--cold) $(if $(ENGINES),--engines) $(if $(TEST),--test)

doctor: node_modules
	$(LAB) doctor

typecheck: node_modules
	npx tsc --noEmit -p .

clean: node_modules
	$(LAB) clean

node_modules: package-lock.json $(NODE_RUNTIME)
	npm ci --no-audit --no-fund
	@touch node_modules

.lab/node/node_modules/.bin/node:
	@echo "[setup] Node $$(node --version 2>/dev/null || echo none) is older than 22: installing Node $(NODE_LTS) into .lab/node (project-local)"
	npm install --prefix .lab/node --no-save --no-audit --no-fund --no-package-lock node@$(NODE_LTS)

# The HTML report is checked in a real browser: Debian's headless Chromium. Installed only when apt's
# simulation shows it adds packages and changes none already installed (harness/report/browser-setup.ts).
browser: node_modules
	@npx tsx harness/report/browser-setup.ts
