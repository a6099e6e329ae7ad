# libFuzzer targets for the parsers (clang, ASan + UBSan); tests/suites/20-fuzz.sh runs them briefly.
FUZZ_CC := clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags jansson yaml-0.1 2>/dev/null)
FUZZ_COMMON := common/yaml.c common/spec.c common/cron.c common/error.c common/buf.c common/utf8.c common/tz.c
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_COMMON) common/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_COMMON) $(shell pkg-config --libs jansson yaml-0.1) -lpthread
TEST_BUILD += $(BUILD)/fuzz/fuzz_yaml $(BUILD)/fuzz/fuzz_spec
