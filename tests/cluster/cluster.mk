# Local Kubernetes control plane for tests and the demo (issue 5): a Go program built
# from the Kubernetes v1.32 modules: embedded etcd, kube-apiserver, kube-controller-manager
# and a local kubelet that runs pod containers as processes. See tests/cluster/README.md.

CLUSTER_BIN := $(BIN)/retl-cluster
# RETL_CLUSTER_DIR in the environment runs a second, independent cluster elsewhere.
CLUSTER_DIR := $(or $(RETL_CLUSTER_DIR),$(BUILD)/cluster)
# Pods find their binaries here first (colon-separated), e.g.
# RETL_CLUSTER_BIN_DIRS=build/san/bin:build/bin for the sanitized controller and engine.
CLUSTER_BIN_DIRS := $(or $(RETL_CLUSTER_BIN_DIRS),$(BIN))
CLUSTER_K8S_VERSION := v1.32.13
CLUSTER_SRCS := $(wildcard tests/cluster/*.go) tests/cluster/go.mod tests/cluster/go.sum
CLUSTER_VERSION_PKG := k8s.io/component-base/version
CLUSTER_LDFLAGS := -s -w \
  -X $(CLUSTER_VERSION_PKG).gitVersion=$(CLUSTER_K8S_VERSION) \
  -X $(CLUSTER_VERSION_PKG).gitMajor=1 -X $(CLUSTER_VERSION_PKG).gitMinor=32 \
  -X $(CLUSTER_VERSION_PKG).gitTreeState=clean \
  -X $(CLUSTER_VERSION_PKG).buildDate=2025-01-01T00:00:00Z \
  -X k8s.io/client-go/pkg/version.gitVersion=$(CLUSTER_K8S_VERSION) \
  -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=32

$(CLUSTER_BIN): $(CLUSTER_SRCS)
	@mkdir -p $(@D)
	cd tests/cluster && go build -buildvcs=false -ldflags='$(CLUSTER_LDFLAGS)' -o $(abspath $@) .

TEST_BUILD += $(CLUSTER_BIN)
DEPS_EXTRA += cluster-deps

.PHONY: cluster cluster-deps cluster-up cluster-down cluster-status

cluster: $(CLUSTER_BIN) ## build the local control plane (build/bin/retl-cluster)

cluster-deps:
	@cd tests/cluster && go mod download

# RUNTIME=containerd: the real kubelet + kube-proxy over containerd (issue 15), the
# image and the pause image imported (tests/containers/containers.mk); default: the
# process kubelet.
RUNTIME ?= process
ifeq ($(RUNTIME),containerd)
CLUSTER_RUNTIME_DEPS := image containers-tools cluster-images
CLUSTER_RUNTIME_FLAGS = --runtime containerd --images $(CLUSTER_IMAGES)
endif

cluster-up: $(CLUSTER_BIN) $(CLUSTER_RUNTIME_DEPS) ## start the local Kubernetes control plane (RUNTIME=process|containerd); kubeconfig in build/cluster/kubeconfig
	@$(CLUSTER_BIN) start --dir $(CLUSTER_DIR) --bin-dir $(CLUSTER_BIN_DIRS) $(CLUSTER_RUNTIME_FLAGS)

cluster-down: ## stop the local control plane and every pod process
	@$(CLUSTER_BIN) stop --dir $(CLUSTER_DIR) 2>/dev/null || true

cluster-status: ## is the local control plane up and ready?
	@$(CLUSTER_BIN) status --dir $(CLUSTER_DIR)
