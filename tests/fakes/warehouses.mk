# Warehouse stand-ins for the odbc/sqlserver/snowflake sources: tds-sim (TDS
# 7.4 server for FreeTDS) and snowflake-sim (SQL API v2), Go modules on pgx.
TDSSIM_DIR := tests/fakes/tds
SNOWSIM_DIR := tests/fakes/snowflake-sim

$(BIN)/tds-sim: $(wildcard $(TDSSIM_DIR)/*.go) $(TDSSIM_DIR)/go.mod $(TDSSIM_DIR)/go.sum
	@mkdir -p $(@D)
	cd $(TDSSIM_DIR) && GOFLAGS=-buildvcs=false go build -o $(abspath $@) .

$(BIN)/snowflake-sim: $(wildcard $(SNOWSIM_DIR)/*.go) $(SNOWSIM_DIR)/go.mod $(SNOWSIM_DIR)/go.sum
	@mkdir -p $(@D)
	cd $(SNOWSIM_DIR) && GOFLAGS=-buildvcs=false go build -o $(abspath $@) .

TEST_BUILD += $(BIN)/tds-sim $(BIN)/snowflake-sim
DEPS_EXTRA += warehouse-sims-go-deps

.PHONY: warehouse-sims-go-deps
warehouse-sims-go-deps:
	@for d in $(TDSSIM_DIR) $(SNOWSIM_DIR); do \
	  (cd $$d && out=$$(go mod download 2>&1) || { echo "$$out"; exit 1; }) || exit 1; done
