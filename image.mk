# `make image` (issue 15, DESIGN §8.3): the Dockerfile built offline with podman
# into localhost/retl:dev; every store under build/containers/ (scripts/image.sh).
IMAGE ?= localhost/retl:dev

.PHONY: image image-clean

image: ## build the container image localhost/retl:dev offline (podman + runc, bases from mmdebstrap)
	@scripts/deps.sh
	@scripts/image.sh build $(IMAGE)

image-clean: ## remove the podman stores under build/containers
	@scripts/image.sh clean
