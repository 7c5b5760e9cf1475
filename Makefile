# correctly: `make demo` runs the whole cycle offline; `make test` is what CI runs.
GO      ?= go
BIN     := bin/correctly
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test vet bench demo clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/correctly

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -count=1 -timeout 30m ./...

bench: build
	$(GO) run ./cmd/benchtable

demo: build
	./scripts/demo.sh

clean:
	rm -rf bin
