# kubectl-retl: the kubectl plugin (DESIGN.md section 8.5). It reuses the
# controller's Kubernetes client and run-pod contract (controller/kube,
# ctl_runpod, ctl_request) and links libcontroller.a; see CONTRIBUTING.md's
# layering rules.
KRC_SRCS := $(sort $(wildcard kubectl-retl/*.c))

$(BIN)/kubectl-retl: $(call obj,rel,$(KRC_SRCS)) $(BUILD)/rel/libcontroller.a $(BUILD)/rel/libcommon.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

BINS += $(BIN)/kubectl-retl
