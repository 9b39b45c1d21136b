# hpcgate — `make demo` runs it on the loopback cluster, `make test` tests it.
GO      ?= go
STATE   ?= /tmp/hpcgate-cluster
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CLUSTER_ENV := $(STATE)/cluster.env

.PHONY: build test unit lint bench bench-peer demo cluster-up cluster-down clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o hpcgate ./cmd/hpcgate

# All tests, unit and integration, against the real loopback cluster. The
# cluster is brought up first and, if this target started it, taken down
# afterwards whatever the result.
test:
	@started=0; [ -f $(CLUSTER_ENV) ] || started=1; \
	./testdata/cluster/up.sh $(STATE) || exit 1; \
	status=0; \
	$(MAKE) --no-print-directory unit HPCGATE_CLUSTER_ENV=$(CLUSTER_ENV) || status=$$?; \
	if [ $$started = 1 ]; then ./testdata/cluster/down.sh $(STATE); fi; \
	exit $$status

# The tests alone (the cluster must be up for the integration tests).
unit:
	HPCGATE_CLUSTER_ENV=$(HPCGATE_CLUSTER_ENV) \
	HPCGATE_TEST_POSTGRES_URL=$$(sed -n 's/^POSTGRES_URL=//p' $(CLUSTER_ENV) 2>/dev/null) \
	$(GO) test -count=1 -timeout 16m ./...
	python3 -m unittest discover -s testdata/pbs -p 'test_*.py'

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	@started=0; [ -f $(CLUSTER_ENV) ] || started=1; \
	./testdata/cluster/up.sh $(STATE) || exit 1; \
	status=0; \
	HPCGATE_CLUSTER_ENV=$(CLUSTER_ENV) $(GO) test -run '^$$' -bench . -benchmem ./... || status=$$?; \
	if [ $$started = 1 ]; then ./testdata/cluster/down.sh $(STATE); fi; \
	exit $$status

# hpcgate's proxy and REST API side by side with configurable-http-proxy
# 5.3.0, `ssh -L` and JupyterHub 3.0 on this machine (testdata/bench/).
# BENCH_MODE=quick (default: one short round, checks the harness) or full
# (5 alternating rounds of 10s, the figures README quotes). Root; run it on
# a quiet machine.
BENCH_MODE ?= quick
BENCH_OUT  ?= /tmp/hpcgate-bench/results
bench-peer: cluster-up
	BENCH_MODE=$(BENCH_MODE) BENCH_OUT=$(BENCH_OUT) ./testdata/bench/peer.sh
	BENCH_MODE=$(BENCH_MODE) BENCH_OUT=$(BENCH_OUT) ./testdata/bench/api.sh
	@echo; echo "## make bench-peer BENCH_MODE=$(BENCH_MODE) ($$(nproc) cores, $$(date -u +%F))"
	@./testdata/bench/bench.py table $(BENCH_OUT)
	@echo; cat $(BENCH_OUT)/proxy_rss.txt $(BENCH_OUT)/api.txt

cluster-up:
	./testdata/cluster/up.sh $(STATE)

cluster-down:
	./testdata/cluster/down.sh $(STATE)

# Builds hpcgate, brings the cluster up and serves the hub on
# http://127.0.0.1:8000 with site-configs/local.yaml.
demo: build cluster-up
	@echo
	@echo "hpcgate demo: open http://127.0.0.1:8000/hub/login and log in as alice / alice-pass"
	@echo "(also bob / bob-pass; carol / carol-pass is an admin). Ctrl-C stops the hub;"
	@echo "'make cluster-down' stops the cluster."
	@echo
	./hpcgate serve -f site-configs/local.yaml

clean:
	rm -f hpcgate
