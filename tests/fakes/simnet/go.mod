module retl/tests/fakes/simnet

go 1.22
