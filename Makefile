# wasmhost: `make run` shows the demo, `make test` runs every test.
# Both install what they need on a fresh Debian 12 (scripts/install-toolchains.sh).

SHELL := /bin/bash
.DEFAULT_GOAL := run

# One target dir outside the clone, reused across clones and CI runs: a clean
# wasmtime build costs many minutes on 2 cores.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/wasmhost-target
CARGO ?= cargo
WASMHOST := $(CARGO_TARGET_DIR)/release/wasmhost
B := guests/build
VENV := .venv

# Guest toolchains (see ../shared/TOOLCHAINS.md for why each is this way).
# Debian's rustc 1.63 has the wasm32-wasi std; rustup's rustc does not.
CC_WASM := clang --target=wasm32-wasi -O2 -Wl,--strip-debug
CXX_WASM := clang++ --target=wasm32-wasi -O2 -fno-exceptions -Wl,--strip-debug
RUSTC_WASM := /usr/bin/rustc --target wasm32-wasi -O -C strip=debuginfo
ZIG := ZIG_GLOBAL_CACHE_DIR=$(CURDIR)/$(B)/.zig-cache ZIG_LOCAL_CACHE_DIR=$(CURDIR)/$(B)/.zig-cache \
       $(VENV)/bin/python -m ziglang
GO := GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local GOFLAGS=-trimpath GOCACHE=$(CURDIR)/$(B)/.go-cache \
      GOPATH=$(CURDIR)/$(B)/.go-path $(CURDIR)/$(VENV)/bin/go
ASC := node_modules/.bin/asc
ASC_FLAGS := --config node_modules/@assemblyscript/wasi-shim/asconfig.json -O

PROGRAMS := hello logger exit trap
C_EXTRA := outputs cat env spin grow sleep upper nn flood readin bytes soak
RUST_EXTRA := nn
LANGS := c cpp rust go zig as

GUESTS := $(foreach l,$(LANGS),$(foreach p,$(PROGRAMS),$(B)/$(l)/$(p).wasm)) \
          $(foreach p,$(C_EXTRA),$(B)/c/$(p).wasm) \
          $(foreach p,$(RUST_EXTRA),$(B)/rust/$(p).wasm) \
          $(B)/as/hello-nodebug.wasm
# Guests for log lifting and the wasmhost_log import (docs/log-format.md, docs/guest-api.md).
LIFT_GUESTS := $(B)/c/formats.wasm $(B)/c/logapi.wasm $(B)/rust/formats.wasm $(B)/rust/logapi.wasm \
               $(B)/zig/stdlog.wasm $(B)/go/slog.wasm
# Components (WASI 0.2, docs/components.md): Python and JavaScript from source
# (componentize-py from PyPI, componentize-js from npm; the world is the
# program's name, in guests/component/wit), and C and Rust core modules made
# into commands with the preview1 adapter (`jco new`, which componentize-js
# brings along).
COMPONENT_WIT := $(wildcard guests/component/wit/*.wit guests/component/wit/deps/*.wit)
COMPONENTS := $(foreach p,app logger,$(B)/component/python-$(p).wasm $(B)/component/js-$(p).wasm) \
              $(foreach p,hello exit trap spin grow upper,$(B)/component/c-$(p).wasm) $(B)/component/rust-hello.wasm \
              $(B)/component/python-net.wasm $(B)/component/js-calc.wasm
JCO := node_modules/.bin/jco
# Stripped variants: every custom section removed.
STRIPPED := $(foreach l,$(LANGS),$(B)/stripped/$(l)-hello.wasm $(B)/stripped/$(l)-logger.wasm)
MALFORMED := $(B)/malformed/producers-garbage.wasm $(B)/malformed/producers-truncated.wasm \
             $(B)/malformed/name-garbage.wasm

# Test suites in wasi-testsuite's format (wasmhost test): the guests above
# with specs, and WASI conformance programs in C and Rust.
SUITES := $(B)/suites
CONF_C := $(basename $(notdir $(wildcard guests/conformance/c/*.c)))
CONF_RUST := $(basename $(notdir $(wildcard guests/conformance/rust/*.rs)))
CONFORMANCE := $(foreach t,$(CONF_C),$(SUITES)/wasi-c/$(t).wasm) $(foreach t,$(CONF_RUST),$(SUITES)/wasi-rust/$(t).wasm)

.PHONY: corpus run test toolchains guests suites build clean bench fuzz go-test
run: build guests
	@echo "== wasmhost run $(B)/c/hello.wasm   (guest stdout passes through; stderr and host events are tagged JSON lines)"
	@$(WASMHOST) run --log-format json $(B)/c/hello.wasm
	@echo "== the same for a Rust guest, with a label"
	@$(WASMHOST) run --log-format json --label job=demo $(B)/rust/hello.wasm
	@echo "== WASI-NN: the C guest runs an ONNX classifier on tract; nn.load / nn.init / nn.compute are events of its instance"
	@$(WASMHOST) run --log-format json --dir $(B)/nn::/nn $(B)/c/nn.wasm file:/nn/mlp/model.onnx 1x4=0.5,-1,2,0.25

test: toolchains guests suites corpus
	$(CARGO) test --release --workspace
	@# The libraries as an embedder builds them: without the CLI, so without
	@# the ort feature. `-p wasmhost-nn` alone would resolve features anew and
	@# rebuild wasmtime (~10 min cold); the rest of the workspace keeps them.
	$(CARGO) test --release --workspace --exclude wasmhost-cli --lib
	$(MAKE) go-test

build:
	$(CARGO) build --release -p wasmhost-cli

# The Go package over the C API (bindings/go/wasmhost), with the race
# detector, linked statically (default) and against the shared library.
# Needs libwasmhost_capi.{a,so}, which `cargo test --release --workspace` builds.
GO_HOST := cd bindings/go/wasmhost && CGO_ENABLED=1 GOTOOLCHAIN=local GOFLAGS=-trimpath \
           GOCACHE=$(CURDIR)/$(B)/.go-cache GOPATH=$(CURDIR)/$(B)/.go-path \
           CGO_LDFLAGS="-L$(CARGO_TARGET_DIR)/release -Wl,-rpath,$(CARGO_TARGET_DIR)/release" $(CURDIR)/$(VENV)/bin/go
go-test: guests
	$(GO_HOST) vet ./...
	$(GO_HOST) test -race -count=1 ./...
	$(GO_HOST) test -race -count=1 -tags wasmhost_shared ./...

# Real-world modules for the detection test: pinned npm packages, SHA-256
# checked, cached in $${WASMHOST_CORPUS_DIR:-$$HOME/.cache/wasmhost-corpus}.
corpus: toolchains
	python3 scripts/fetch-corpus.py

toolchains: $(B)/.toolchains
$(B)/.toolchains: scripts/install-toolchains.sh package.json
	scripts/install-toolchains.sh
	@mkdir -p $(B) && touch $@

guests: toolchains $(GUESTS) $(LIFT_GUESTS) $(STRIPPED) $(MALFORMED) $(COMPONENTS) $(B)/nn/expected.json
$(B)/c/logapi.wasm: guests/include/wasmhost_log.h
$(B)/rust/logapi.wasm: guests/include/wasmhost_log.rs

# ONNX models for the WASI-NN guests, with outputs numpy computes from the
# same weights (the independent check the tests compare against).
$(B)/nn/expected.json: scripts/make-models.py | $(B)/.toolchains
	$(VENV)/bin/python scripts/make-models.py $(B)/nn

$(B)/c/%.wasm: guests/c/%.c | $(B)/.toolchains
	@mkdir -p $(@D)
	$(CC_WASM) -o $@ $<
$(B)/cpp/%.wasm: guests/cpp/%.cpp | $(B)/.toolchains
	@mkdir -p $(@D)
	$(CXX_WASM) -o $@ $<
$(B)/rust/%.wasm: guests/rust/%.rs | $(B)/.toolchains
	@mkdir -p $(@D)
	$(RUSTC_WASM) -o $@ $<
$(B)/zig/%.wasm: guests/zig/%.zig | $(B)/.toolchains
	@mkdir -p $(@D)
	$(ZIG) build-exe $< -target wasm32-wasi -O ReleaseFast -femit-bin=$@
	@rm -f $@.o
$(B)/go/%.wasm: guests/go/%/main.go guests/go/go.mod | $(B)/.toolchains
	@mkdir -p $(@D)
	cd guests/go && $(GO) build -o $(CURDIR)/$@ ./$*
$(B)/as/%.wasm: guests/as/%.ts | $(B)/.toolchains
	@mkdir -p $(@D)
	$(ASC) $< $(ASC_FLAGS) --debug --outFile $@
# AssemblyScript without --debug writes no custom section at all.
$(B)/as/hello-nodebug.wasm: guests/as/hello.ts | $(B)/.toolchains
	@mkdir -p $(@D)
	$(ASC) $< $(ASC_FLAGS) --outFile $@

$(B)/component/python-%.wasm: guests/component/python/%.py $(COMPONENT_WIT) | $(B)/.toolchains
	@mkdir -p $(@D)
	cd guests/component/python && $(CURDIR)/$(VENV)/bin/componentize-py -q -d ../wit -w $* componentize $* -o $(CURDIR)/$@
$(B)/component/js-%.wasm: guests/component/js/%.js $(COMPONENT_WIT) | $(B)/.toolchains
	@mkdir -p $(@D)
	@# Without --disable http StarlingMonkey imports wasi:http (for fetch), which
	@# wasmhost does not provide (as `wasmtime run` without -S http).
	node_modules/.bin/componentize-js $< --wit guests/component/wit -n $* --disable http -o $@
$(B)/component/c-%.wasm: $(B)/c/%.wasm | $(B)/.toolchains
	@mkdir -p $(@D)
	$(JCO) new $< --wasi-command -o $@
$(B)/component/rust-%.wasm: $(B)/rust/%.wasm | $(B)/.toolchains
	@mkdir -p $(@D)
	$(JCO) new $< --wasi-command -o $@

$(B)/stripped/%.wasm: | $(B)/.toolchains
	@mkdir -p $(@D)
	wasm-strip -o $@ $(B)/$(subst -,/,$*).wasm

$(B)/stripped/c-hello.wasm: $(B)/c/hello.wasm
$(B)/stripped/c-logger.wasm: $(B)/c/logger.wasm
$(B)/stripped/cpp-hello.wasm: $(B)/cpp/hello.wasm
$(B)/stripped/cpp-logger.wasm: $(B)/cpp/logger.wasm
$(B)/stripped/rust-hello.wasm: $(B)/rust/hello.wasm
$(B)/stripped/rust-logger.wasm: $(B)/rust/logger.wasm
$(B)/stripped/go-hello.wasm: $(B)/go/hello.wasm
$(B)/stripped/go-logger.wasm: $(B)/go/logger.wasm
$(B)/stripped/zig-hello.wasm: $(B)/zig/hello.wasm
$(B)/stripped/zig-logger.wasm: $(B)/zig/logger.wasm
$(B)/stripped/as-hello.wasm: $(B)/as/hello.wasm
$(B)/stripped/as-logger.wasm: $(B)/as/logger.wasm

# Modules with hostile custom sections, made from a real guest.
$(B)/malformed/producers-garbage.wasm: $(B)/c/hello.wasm scripts/add-custom-section.py
	@mkdir -p $(@D)
	python3 scripts/add-custom-section.py $< $@ producers garbage
$(B)/malformed/producers-truncated.wasm: $(B)/rust/hello.wasm scripts/add-custom-section.py
	@mkdir -p $(@D)
	python3 scripts/add-custom-section.py $< $@ producers truncated
$(B)/malformed/name-garbage.wasm: $(B)/c/hello.wasm scripts/add-custom-section.py
	@mkdir -p $(@D)
	python3 scripts/add-custom-section.py $< $@ name garbage

suites: guests $(CONFORMANCE)
	scripts/assemble-suites.sh

$(SUITES)/wasi-c/%.wasm: guests/conformance/c/%.c guests/conformance/c/check.h | $(B)/.toolchains
	@mkdir -p $(@D)
	$(CC_WASM) -o $@ $<
$(SUITES)/wasi-rust/%.wasm: guests/conformance/rust/%.rs | $(B)/.toolchains
	@mkdir -p $(@D)
	$(RUSTC_WASM) -o $@ $<

bench: build guests suites
	benches/run-vs-wasmtime.sh

# Fuzzing (fuzz/README.md): cargo-fuzz on the stable toolchain (no
# sanitizer needs no nightly flag; RUSTC_BOOTSTRAP=1 lets libfuzzer-sys's
# build pass anyway), each target for FUZZ_SECONDS. What the fuzzers keep
# lands in fuzz/corpus/TARGET, which `make test` replays (tests/fuzz_corpus.rs).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := detect lines logql routing
fuzz: guests
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@set -e; for t in $(FUZZ_TARGETS); do \
	    seeds=""; [ $$t = detect ] && seeds="$(B)/c $(B)/rust $(B)/go $(B)/zig $(B)/as $(B)/stripped $(B)/malformed"; \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	    CARGO_TARGET_DIR=$(CURDIR)/fuzz/target RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir fuzz -s none $$t \
	        fuzz/corpus/$$t $$seeds -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10; \
	    CARGO_TARGET_DIR=$(CURDIR)/fuzz/target RUSTC_BOOTSTRAP=1 $(CARGO) fuzz cmin --fuzz-dir fuzz -s none $$t fuzz/corpus/$$t; \
	done

clean:
	rm -rf $(B)
