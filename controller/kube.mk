# The Makefile includes controller/*.mk; the kube fragment lives beside its sources.
include controller/kube/kube.mk
