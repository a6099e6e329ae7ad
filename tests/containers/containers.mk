# Tools for the image, the chart and real containers (issue 15, DESIGN §8.3),
# all built from Go modules into build/bin (no registry, no release download):
#   helm        helm.sh/helm/v4 (the chart's tests)
#   containerd  github.com/containerd/containerd/v2 + its runc shim (RUNTIME=containerd)
#   kubelet, kube-proxy  k8s.io/kubernetes at the apiserver's version: `tool`
#               directives of tests/containers/node/go.mod (same replaces as tests/cluster)
HELM_VERSION := v4.3.2
CONTAINERD_VERSION := v2.4.2
HELM := $(BIN)/helm
CONTAINERD_BINS := $(BIN)/containerd $(BIN)/containerd-shim-runc-v2 $(BIN)/ctr
KUBE_NODE_BINS := $(BIN)/kubelet $(BIN)/kube-proxy

$(HELM):
	@mkdir -p $(@D)
	cd /tmp && GOBIN=$(abspath $(BIN)) CGO_ENABLED=0 go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

$(CONTAINERD_BINS) &:
	@mkdir -p $(BIN)
	cd /tmp && GOBIN=$(abspath $(BIN)) CGO_ENABLED=0 go install \
	  github.com/containerd/containerd/v2/cmd/containerd@$(CONTAINERD_VERSION) \
	  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$(CONTAINERD_VERSION) \
	  github.com/containerd/containerd/v2/cmd/ctr@$(CONTAINERD_VERSION)

$(BIN)/kubelet $(BIN)/kube-proxy: $(BIN)/%: tests/containers/node/go.mod tests/containers/node/go.sum
	@mkdir -p $(@D)
	cd tests/containers/node && go build -buildvcs=false -ldflags='$(CLUSTER_LDFLAGS)' \
	  -o $(abspath $@) k8s.io/kubernetes/cmd/$*

TEST_BUILD += $(HELM)

# OCI archives containerd imports at cluster-up (rewritten when the image changes).
CLUSTER_IMAGES = $(abspath $(BUILD)/containers/retl.oci.tar),$(abspath $(BUILD)/containers/pause.oci.tar)

.PHONY: cluster-images
cluster-images: image
	@scripts/image.sh pause
	@scripts/image.sh save $(IMAGE) $(BUILD)/containers/retl.oci.tar
	@scripts/image.sh save localhost/pause:retl $(BUILD)/containers/pause.oci.tar

.PHONY: helm containers-tools manifests manifests-check

helm: $(HELM) ## build the real helm (Go module) into build/bin/helm

containers-tools: $(HELM) $(CONTAINERD_BINS) $(KUBE_NODE_BINS) ## containerd, kubelet, kube-proxy, helm for RUNTIME=containerd

manifests: $(HELM) ## regenerate manifests/ from charts/retl (the one source)
	@HELM=$(HELM) scripts/manifests.sh write

manifests-check: $(HELM) ## exit 1 when manifests/ is not what charts/retl renders
	@HELM=$(HELM) scripts/manifests.sh check
