module retl/tests/fakes/hubspot-sim

go 1.22
