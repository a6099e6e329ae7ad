# libFuzzer targets for the parsers (clang, ASan + UBSan); tests/suites/20-fuzz.sh runs them briefly.
FUZZ_CC := clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags jansson yaml-0.1 2>/dev/null)
FUZZ_COMMON := common/yaml.c common/spec.c common/cron.c common/error.c common/buf.c common/utf8.c common/tz.c
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_COMMON) common/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_COMMON) $(shell pkg-config --libs jansson yaml-0.1) -lpthread

# Targets over a whole part: its sources instrumented once (fuzzer-no-link),
# then linked with each target's entry point.
FUZZ_OBJ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS)
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_OBJ_FLAGS) -c $< -o $@
FUZZ_COMMON_OBJS = $(call obj,fuzzobj,$(COMMON_SRCS))
FUZZ_ENGINE_OBJS = $(call obj,fuzzobj,$(ENGINE_SRCS))
FUZZ_CTRL_OBJS = $(call obj,fuzzobj,$(CTRL_SRCS))
FUZZ_COMMON_TARGETS := fuzz_redact fuzz_cron fuzz_tzif
FUZZ_ENGINE_TARGETS := fuzz_sf_csv fuzz_sf_json fuzz_snow_cell fuzz_hs_value \
  fuzz_sf_describe fuzz_hs_results fuzz_http_answer fuzz_sf_token fuzz_snow_result \
  fuzz_sf_bulk_apply fuzz_hs_read
FUZZ_CTRL_TARGETS := fuzz_watch fuzz_kubeconfig fuzz_pod_outcome
$(addprefix $(BUILD)/fuzz/,$(FUZZ_COMMON_TARGETS)): $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_COMMON_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $^ $(LDLIBS)
$(addprefix $(BUILD)/fuzz/,$(FUZZ_ENGINE_TARGETS)): $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_ENGINE_OBJS) $(FUZZ_COMMON_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $^ $(LDLIBS)
$(addprefix $(BUILD)/fuzz/,$(FUZZ_CTRL_TARGETS)): $(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_CTRL_OBJS) $(FUZZ_COMMON_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $^ $(LDLIBS)

TEST_BUILD += $(BUILD)/fuzz/fuzz_yaml $(BUILD)/fuzz/fuzz_spec \
  $(addprefix $(BUILD)/fuzz/,$(FUZZ_COMMON_TARGETS) $(FUZZ_ENGINE_TARGETS) $(FUZZ_CTRL_TARGETS))
