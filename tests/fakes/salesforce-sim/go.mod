module retl/tests/fakes/salesforce-sim

go 1.22
