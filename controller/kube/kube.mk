# Kubernetes client machinery (issue 6). controller/kube/*.c also land in
# libcontroller.a through the Makefile's wildcard; the test driver links a
# kube-only archive so it never waits on the rest of the controller.

KUBE_SRCS := $(sort $(wildcard controller/kube/*.c))
$(eval $(call archive,san,kube,$(KUBE_SRCS)))
$(eval $(call archive,rel,kube,$(KUBE_SRCS)))

# Integration driver (tests/suites/60-kube-client.sh), sanitized.
$(BUILD)/test/kube_itest: $(BUILD)/san/tests/kube/kube_itest.o $(BUILD)/san/libkube.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# The same driver optimised and unsanitized, for bench/kube-informer.sh (RSS).
$(BUILD)/bench/kube_itest: $(BUILD)/rel/tests/kube/kube_itest.o $(BUILD)/rel/libkube.a $(BUILD)/rel/libcommon.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

TEST_BUILD += $(BUILD)/test/kube_itest $(BUILD)/bench/kube_itest
