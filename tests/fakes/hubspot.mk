# hubspot-sim and http-receiver (Go, standard library, one module each) and the
# @hubspot/api-client conformance test's npm packages (also the bench's plain loop).
HSSIM_DIR := tests/fakes/hubspot-sim
HSCONF_DIR := tests/fakes/hubspot-conformance
HTTPRCV_DIR := tests/fakes/http-receiver

$(BIN)/hubspot-sim: $(filter-out %_test.go,$(wildcard $(HSSIM_DIR)/*.go)) $(HSSIM_DIR)/go.mod $(SIMNET_SRCS)
	@mkdir -p $(@D)
	cd $(HSSIM_DIR) && GOFLAGS=-buildvcs=false go build -o $(abspath $@) .

$(BIN)/http-receiver: $(wildcard $(HTTPRCV_DIR)/*.go) $(HTTPRCV_DIR)/go.mod $(SIMNET_SRCS)
	@mkdir -p $(@D)
	cd $(HTTPRCV_DIR) && GOFLAGS=-buildvcs=false go build -o $(abspath $@) .

TEST_BUILD += $(BIN)/hubspot-sim $(BIN)/http-receiver
DEPS_EXTRA += hubspot-npm-deps

.PHONY: hubspot-npm-deps
hubspot-npm-deps: $(HSCONF_DIR)/node_modules/.retl-stamp
	@:

$(HSCONF_DIR)/node_modules/.retl-stamp: $(HSCONF_DIR)/package.json $(HSCONF_DIR)/package-lock.json
	@cd $(HSCONF_DIR) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@
