# retl: build, test and demo. `make help` lists the targets.
#
# Parts add themselves through fragments (*/*.mk, tests/*/*.mk, bench/*.mk):
#   BINS        += files under build/bin built by `make all`
#   TEST_BUILD  += what `make test` needs built before the suites run
#   DEPS_EXTRA  += targets `make deps` runs after the Debian packages (Go, npm)
# C sources are found by wildcard, so a new backend is a new file, not a Makefile edit.

SHELL := /bin/bash
.DEFAULT_GOAL := all
BUILD := build
BIN := $(BUILD)/bin
CC := gcc

PKGS := libcurl jansson yaml-0.1 libpq openssl libmicrohttpd odbc
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation
CSTD := -std=c11 -D_GNU_SOURCE
INCS := -I.
REL_CFLAGS := $(CSTD) $(WARN) -O2 -g $(INCS) $(PKG_CFLAGS) -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_CFLAGS := $(CSTD) $(WARN) -O1 -g $(SAN_FLAGS) $(INCS) $(PKG_CFLAGS) -MMD -MP -DRETL_TEST_BUILD
LDLIBS = $(PKG_LIBS) -lpthread -lm

# Sources of each part; a main.c is the binary's entry point and stays out of the library.
COMMON_SRCS := $(sort $(wildcard common/*.c))
ENGINE_SRCS := $(sort $(filter-out engine/main.c,$(wildcard engine/*.c engine/*/*.c)))
CTRL_SRCS := $(sort $(filter-out controller/main.c,$(wildcard controller/*.c controller/*/*.c)))

obj = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

define archive
$(BUILD)/$(1)/lib$(2).a: $(call obj,$(1),$(3))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call archive,rel,common,$(COMMON_SRCS)))
$(eval $(call archive,san,common,$(COMMON_SRCS)))
$(eval $(call archive,rel,engine,$(ENGINE_SRCS)))
$(eval $(call archive,san,engine,$(ENGINE_SRCS)))
$(eval $(call archive,rel,controller,$(CTRL_SRCS)))
$(eval $(call archive,san,controller,$(CTRL_SRCS)))

# libengine is linked whole: backends register themselves (ENG_DEST_REGISTER)
# and nothing else refers to them.
WHOLE = -Wl,--whole-archive $(filter %/libengine.a,$^) -Wl,--no-whole-archive
$(BIN)/retl-engine: $(BUILD)/rel/engine/main.o $(BUILD)/rel/libengine.a $(BUILD)/rel/libcommon.a
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(WHOLE) $(filter %/libcommon.a,$^) $(LDLIBS)

$(BIN)/retl-controller: $(BUILD)/rel/controller/main.o $(BUILD)/rel/libcontroller.a $(BUILD)/rel/libcommon.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

# Sanitized builds of both binaries, used by integration and e2e tests.
$(BUILD)/san/bin/retl-engine: $(BUILD)/san/engine/main.o $(BUILD)/san/libengine.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $(filter %.o,$^) $(WHOLE) $(filter %/libcommon.a,$^) $(LDLIBS)

$(BUILD)/san/bin/retl-controller: $(BUILD)/san/controller/main.o $(BUILD)/san/libcontroller.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# A binary is part of the build once its entry point exists.
ifneq ($(wildcard engine/main.c),)
BINS += $(BIN)/retl-engine
TEST_BUILD += $(BUILD)/san/bin/retl-engine
endif
ifneq ($(wildcard controller/main.c),)
BINS += $(BIN)/retl-controller
TEST_BUILD += $(BUILD)/san/bin/retl-controller
endif

# Unit tests: tests/unit/test_<module>.c, one binary each, sanitized, linked with cmocka.
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/test/%,$(UNIT_SRCS))
# A test links the libraries whose headers it includes, so one part's work in
# progress never blocks another part's tests.
test_libs = $(if $(shell grep -l '"controller/' $(1)),$(BUILD)/san/libcontroller.a) \
            $(if $(shell grep -l '"engine/' $(1)),$(BUILD)/san/libengine.a) \
            $(BUILD)/san/libcommon.a
define unit_rule
$(BUILD)/test/$(basename $(notdir $(1))): $(BUILD)/san/$(1:.c=.o) $(call test_libs,$(1))
	@mkdir -p $$(@D)
	$$(CC) $$(SAN_FLAGS) -o $$@ $$^ $$(LDLIBS) -lcmocka
endef
$(foreach t,$(UNIT_SRCS),$(eval $(call unit_rule,$(t))))
TEST_BUILD += $(UNIT_BINS)

FRAGMENTS := $(sort $(wildcard *.mk common/*.mk engine/*.mk controller/*.mk tests/*/*.mk bench/*.mk kubectl-retl/*.mk))
include $(FRAGMENTS)

.PHONY: all deps test test-build demo demo-down bench fmt lint clean help unit

all: $(BINS) ## build every binary into build/bin (optimised)

deps: ## install every Debian package, Go module and npm package the project needs
	@scripts/deps.sh
	@$(MAKE) -s --no-print-directory $(DEPS_EXTRA) deps-done

deps-done:
	@:

test-build: $(BINS) $(TEST_BUILD)

test: deps ## build everything and run every test suite; ends with `N passed, M failed`
	@$(MAKE) --no-print-directory all test-build
	@tests/run-suites.sh

unit: $(UNIT_BINS) ## only the C unit tests
	@tests/run-suites.sh tests/suites/10-unit.sh

demo: deps ## control plane, PostgreSQL, salesforce-sim, controller, sample jobs end to end (RUNTIME=containerd: real containers)
	@$(MAKE) --no-print-directory all test-build
	@if [ "$(RUNTIME)" = containerd ]; then $(MAKE) --no-print-directory image containers-tools cluster-images; fi
	@RUNTIME=$(RUNTIME) scripts/demo.sh up

demo-down: ## stop everything `make demo` started
	@scripts/demo.sh down

bench: deps ## benchmarks with their peers, reported as ratios
	@$(MAKE) --no-print-directory all test-build
	@bench/run.sh

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h' 2>/dev/null)

fmt: ## clang-format every C file in place
	@clang-format -i $(C_FILES)

lint: ## clang-format check + cppcheck
	@clang-format --dry-run -Werror $(C_FILES)
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem --std=c11 -I . $(filter %.c,$(C_FILES))
	@echo "lint clean"

clean: ## remove build/ (podman's overlay mounts first)
	@[ ! -d $(BUILD)/containers ] || scripts/image.sh clean
	rm -rf $(BUILD)

help:
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

-include $(shell find $(BUILD)/rel $(BUILD)/san -name '*.d' -type f 2>/dev/null)
