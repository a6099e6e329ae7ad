# salesforce-sim (Go, its own module; listening and TLS from tests/fakes/simnet, shared by every stand-in) and the jsforce conformance test's npm packages.
SFSIM_DIR := tests/fakes/salesforce-sim
SIMNET_SRCS := $(wildcard tests/fakes/simnet/*.go) tests/fakes/simnet/go.mod
SFSIM_SRCS := $(wildcard $(SFSIM_DIR)/*.go) $(SFSIM_DIR)/go.mod $(SIMNET_SRCS)
SFCONF_DIR := tests/fakes/conformance

$(BIN)/salesforce-sim: $(filter-out %_test.go,$(SFSIM_SRCS))
	@mkdir -p $(@D)
	cd $(SFSIM_DIR) && GOFLAGS=-buildvcs=false go build -o $(abspath $@) .

TEST_BUILD += $(BIN)/salesforce-sim
DEPS_EXTRA += fakes-go-deps fakes-npm-deps

.PHONY: fakes-go-deps fakes-npm-deps

# The sim uses only the standard library; this stays correct if that changes.
fakes-go-deps:
	@cd $(SFSIM_DIR) && out=$$(go mod download 2>&1) || { echo "$$out"; exit 1; }

fakes-npm-deps: $(SFCONF_DIR)/node_modules/.retl-stamp
	@:

$(SFCONF_DIR)/node_modules/.retl-stamp: $(SFCONF_DIR)/package.json $(SFCONF_DIR)/package-lock.json
	@cd $(SFCONF_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@
