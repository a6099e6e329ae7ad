module retl/tests/fakes/salesforce-sim

go 1.22

require retl/tests/fakes/simnet v0.0.0

replace retl/tests/fakes/simnet => ../simnet
