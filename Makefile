# licbridge — see README.md. `make demo` and `make test` are the quick start.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/licbridge
FUZZTIME ?= 10s

.PHONY: build test bench lint fuzz demo clean chaos package

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/licbridge

test:
	$(GO) test -race -count=1 ./...
	cd tools/package && $(GO) test -count=1 ./...

# The Debian package (dist/licbridge_VERSION_ARCH.deb), built with nfpm by
# tools/package (a module of its own, so the daemon does not depend on it).
package: build
	cd tools/package && $(GO) run . -root ../.. -binary $(BIN) -version $(VERSION) -out dist

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# A short run of every fuzz target (go test allows one -fuzz target per run).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The chaos test of the hard limit, the long scenario (several minutes): three
# `licbridge run` on a redis-server, then on a Redis Cluster, under faults.
# LICBRIDGE_CHAOS_SEED=N replays a schedule; CHAOSFLAGS=-race builds the daemon
# with the race detector too (a race then stops the node, reported as a crash).
CHAOSFLAGS ?=
chaos:
	LICBRIDGE_CHAOS=long $(GO) test $(CHAOSFLAGS) -count=1 -v -timeout 30m -run '^TestChaosHardLimit$$' ./cmd/licbridge

demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/licbridge demo

clean:
	rm -rf bin
