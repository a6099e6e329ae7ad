# Monitoring contract tests (issue 8), run by tests/suites/80-monitoring.sh:
# - a Go test binary (kstatus on the status fixtures; KSM config, PrometheusRule
#   and CRD consistency), built here so the suite only runs it;
# - yaml2json, which feeds the Argo CD health.lua runner (lua5.4);
# - retl-metrics-dump, which renders the controller's real metric registry.

KSTATUS_DIR := tests/kstatus
KSTATUS_SRCS := $(wildcard $(KSTATUS_DIR)/*.go $(KSTATUS_DIR)/cmd/*/*.go) $(KSTATUS_DIR)/go.mod $(KSTATUS_DIR)/go.sum
KSTATUS_TEST := $(BUILD)/test/kstatus.test
YAML2JSON := $(BUILD)/test/retl-yaml2json
METRICS_DUMP := $(BUILD)/test/retl-metrics-dump

$(KSTATUS_TEST): $(KSTATUS_SRCS)
	@mkdir -p $(@D)
	cd $(KSTATUS_DIR) && go test -c -o $(abspath $@) .

$(YAML2JSON): $(KSTATUS_SRCS)
	@mkdir -p $(@D)
	cd $(KSTATUS_DIR) && go build -o $(abspath $@) ./cmd/yaml2json

$(METRICS_DUMP): $(BUILD)/san/tests/kstatus/cdump/metrics_dump.o $(BUILD)/san/libcontroller.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

TEST_BUILD += $(KSTATUS_TEST) $(YAML2JSON) $(METRICS_DUMP)
DEPS_EXTRA += kstatus-deps

.PHONY: kstatus-deps
kstatus-deps:
	@cd $(KSTATUS_DIR) && go mod download
