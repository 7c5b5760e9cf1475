# correctly: `make demo` runs the whole cycle offline; `make test` is what CI runs.
GO      ?= go
BIN     := bin/correctly
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# where the tests find torch and transformers for train.py's real runs (scripts/torch-root.sh)
export CORRECTLY_TORCH_ROOT ?= /var/cache/correctly/sid-root

.PHONY: build test vet bench demo clean torch-root

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

torch-root:
	bash scripts/torch-root.sh "$(CORRECTLY_TORCH_ROOT)"

clean:
	rm -rf bin
