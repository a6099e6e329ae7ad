module retl/tests/fakes/http-receiver

go 1.22
