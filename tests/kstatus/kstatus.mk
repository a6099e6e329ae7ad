# Monitoring contract tests (issue 8): a Go module (kstatus on the status fixtures,
# KSM config / PrometheusRule / CRD consistency) and a tiny C program that renders
# the controller's metrics for them. tests/suites/80-monitoring.sh runs it all.

METRICS_DUMP := $(BUILD)/test/retl-metrics-dump

$(METRICS_DUMP): $(BUILD)/san/tests/kstatus/cdump/metrics_dump.o $(BUILD)/san/libcontroller.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

TEST_BUILD += $(METRICS_DUMP)
DEPS_EXTRA += kstatus-deps

.PHONY: kstatus-deps
kstatus-deps:
	@cd tests/kstatus && go mod download
