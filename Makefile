# Thin wrappers; each target is a word the README uses.
.PHONY: cdk chromium client build guest run test test-fast test-integration lint fmt clean venv package package-x86_64 package-arm64 node bench build-AttachIotPolicyFunction build-PolicyDrainFunction build-AttachIotPolicyNodeFunction build-PolicyDrainNodeFunction package-node

GUEST_WASM := target/wasm32-wasip2/guest/attach_iot_policy_guest.wasm
BIN        := target/release/attach-iot-policy
# The example event's policy; `make run` needs no AWS account or credentials.
RUN_ENV    := IOT_POLICY_NAME=amplify-toolkit-iot-message-viewer

# The wasm target comes from rust-toolchain.toml; `rustup target add` is a
# no-op when it is there and installs it on a fresh machine when it is not.
.wasm-target:
	rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
	@touch $@

# moto for the AWS integration tests, in a local virtualenv.
VENV := .venv
$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

venv: $(VENV)/.installed

guest: .wasm-target
	cargo build -p attach-iot-policy-guest --target wasm32-wasip2 --profile guest

# The release CLI embeds the guest precompiled for this machine, so `invoke`
# starts without compiling; it still carries the .wasm, and compiles that if
# it is moved to a CPU the precompiled code does not fit. One release build
# does it all: built, it precompiles the guest, and cargo then relinks only
# the host crate with the result (only when that changed). Every release
# cargo command passes the same ATTACH_IOT_POLICY_CWASM, so none of them
# undoes another's build.
NATIVE_CWASM := target/precompiled/native.cwasm
RELEASE_ENV   = env $$(test -f $(NATIVE_CWASM) && echo ATTACH_IOT_POLICY_CWASM=$(CURDIR)/$(NATIVE_CWASM))
build: .wasm-target
	$(RELEASE_ENV) cargo build --release -p attach-iot-policy
	@mkdir -p $(dir $(NATIVE_CWASM))
	$(BIN) precompile --out $(NATIVE_CWASM).new
	@if cmp -s $(NATIVE_CWASM).new $(NATIVE_CWASM); then rm $(NATIVE_CWASM).new; else mv $(NATIVE_CWASM).new $(NATIVE_CWASM); fi
	$(RELEASE_ENV) cargo build --release -p attach-iot-policy

# Node tools for the tests: @vercel/fun (a Lambda Runtime API) and jco.
tests/node/node_modules/.installed: tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: tests/node/node_modules/.installed

# The app's package (client/): installed, then built to client/dist.
client/node_modules/.installed: client/package-lock.json
	cd client && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

client/dist/index.js: client/node_modules/.installed client/tsconfig.json $(wildcard client/src/*.ts)
	cd client && npx tsc -p tsconfig.json

client: client/dist/index.js

# The AWS CDK construct (cdk/): installed (with aws-cdk-lib, the cdk CLI,
# cdk-nag and Amplify's backend for the tests), then built to cdk/dist.
cdk/node_modules/.installed: cdk/package-lock.json
	cd cdk && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

cdk/dist/index.js: cdk/node_modules/.installed cdk/tsconfig.json $(wildcard cdk/src/*.ts)
	cd cdk && npx tsc -p tsconfig.json

cdk: cdk/dist/index.js

# The real browser: Debian's headless Chromium (a browser download fails on
# these machines), driven by playwright-core with its executablePath.
chromium:
	command -v chromium-headless-shell >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium-headless-shell)

tests/browser/node_modules/.installed: tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The same guest for the second host: jco transpiles it to JS + core modules.
target/jco/attacher.js: guest tests/node/node_modules/.installed
	cd tests/node && npx jco transpile ../../$(GUEST_WASM) --instantiation async --name attacher -o ../../target/jco >/dev/null

# The Lambda packages: a static musl `bootstrap` per architecture, built
# without Cranelift, with the component precompiled for it (by the release
# CLI) and embedded.
LAMBDA_BIN   = target/$(1)-unknown-linux-musl/lambda/attach-iot-policy

# Rewrites the .cwasm only when it changed, so cargo relinks only then.
target/precompiled/%.cwasm: build FORCE
	@mkdir -p $(@D)
	$(BIN) precompile --target $*-unknown-linux-musl --out $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

.musl-tools:
	command -v musl-gcc >/dev/null || (apt-get update -qq && apt-get install -y -qq musl-tools)
	rustup target add x86_64-unknown-linux-musl
	@touch $@

package-x86_64: .musl-tools $(VENV)/.installed target/precompiled/x86_64.cwasm
	ATTACH_IOT_POLICY_CWASM=$(CURDIR)/target/precompiled/x86_64.cwasm \
	  cargo build --profile lambda --target x86_64-unknown-linux-musl -p attach-iot-policy --no-default-features
	$(call zip_bootstrap,x86_64,x86_64)

# arm64: cargo-zigbuild with zig from PyPI links a static aarch64 musl binary
# without a cross gcc; qemu-user runs it here for a smoke test.
.zig-tools: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check ziglang==0.14.1
	command -v cargo-zigbuild >/dev/null || cargo install --locked cargo-zigbuild@0.24.1
	command -v qemu-aarch64 >/dev/null || (apt-get update -qq && apt-get install -y -qq qemu-user)
	rustup target add aarch64-unknown-linux-musl
	@touch $@

package-arm64: .zig-tools target/precompiled/aarch64.cwasm
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ATTACH_IOT_POLICY_CWASM=$(CURDIR)/target/precompiled/aarch64.cwasm \
	  cargo zigbuild --profile lambda --target aarch64-unknown-linux-musl -p attach-iot-policy --no-default-features
	$(call zip_bootstrap,aarch64,arm64)
	qemu-aarch64 dist/arm64/bootstrap --version
	IOT_POLICY_NAME=amplify-toolkit-iot-message-viewer qemu-aarch64 dist/arm64/bootstrap \
	  invoke --simulate --event examples/event-rest.json | grep '"statusCode": 200'

package: package-x86_64 package-arm64
	@ls -l dist/*.zip

# The Node.js Lambda (node/): the handler, the guest transpiled by jco from
# the very same .wasm (its SHA-256 recorded beside it), and no node_modules:
# the Lambda Node.js runtime ships the AWS SDK v3 the handler uses.
NODE_PKG := target/node-package
node/node_modules/.installed: node/package-lock.json
	cd node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(NODE_PKG)/index.mjs: node/index.mjs $(wildcard node/src/*.mjs) target/jco/attacher.js Makefile
	rm -rf $(NODE_PKG) && mkdir -p $(NODE_PKG)/guest
	cp -r node/index.mjs node/src $(NODE_PKG)/
	cp target/jco/attacher.js target/jco/attacher.core.wasm target/jco/attacher.core2.wasm target/jco/attacher.core3.wasm $(NODE_PKG)/guest/
	sha256sum $(GUEST_WASM) | cut -d' ' -f1 > $(NODE_PKG)/guest/component.sha256
	echo '{"type": "module"}' > $(NODE_PKG)/guest/package.json

package-node: $(NODE_PKG)/index.mjs
	mkdir -p dist && rm -f dist/attach-iot-policy-node.zip
	cd $(NODE_PKG) && python3 -m zipfile -c $(CURDIR)/dist/attach-iot-policy-node.zip index.mjs src guest
	@ls -l dist/attach-iot-policy-node.zip

# `sam build` (deploy/template.yaml, BuildMethod: makefile) calls this with
# ARTIFACTS_DIR set. ARCH=x86_64 for an x86_64 function.
ARCH ?= arm64
build-AttachIotPolicyFunction:
	$(MAKE) package-$(ARCH)
	cp dist/$(ARCH)/bootstrap $(ARTIFACTS_DIR)/bootstrap

# FunctionRuntime=nodejs: the Node.js package's files, unzipped.
build-AttachIotPolicyNodeFunction: package-node
	cp -r $(NODE_PKG)/index.mjs $(NODE_PKG)/src $(NODE_PKG)/guest $(ARTIFACTS_DIR)/

# The stack's policy drain (its custom resource) runs the same package.
build-PolicyDrainFunction: build-AttachIotPolicyFunction
build-PolicyDrainNodeFunction: build-AttachIotPolicyNodeFunction

# Benchmarks, not timed tests: medians over repeated runs, in
# target/bench/report.md and docs/performance.md. cargo bench shares the
# release build, with the same precompiled guest as `make build`.
bench: build package package-node node node/node_modules/.installed target/jco/attacher.js client
	$(RELEASE_ENV) cargo bench -p attach-iot-policy --bench lambda

# zip_bootstrap(rust-arch, lambda-arch): bootstrap at the zip's root, with a fixed time stamp.
define zip_bootstrap
	@mkdir -p dist/$(2)
	cp $(call LAMBDA_BIN,$(1)) dist/$(2)/bootstrap
	touch -d 2020-01-01T00:00:00Z dist/$(2)/bootstrap
	rm -f dist/attach-iot-policy-$(2).zip
	cd dist/$(2) && $(CURDIR)/$(VENV)/bin/python -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],"w",zipfile.ZIP_DEFLATED,compresslevel=9); i=zipfile.ZipInfo("bootstrap",(2020,1,1,0,0,0)); i.external_attr=0o100755<<16; i.compress_type=zipfile.ZIP_DEFLATED; z.writestr(i,open("bootstrap","rb").read()); z.close()' ../attach-iot-policy-$(2).zip
endef

FORCE:

run: build
	$(RUN_ENV) $(BIN) invoke --simulate --event examples/event-rest.json

# The full gate, as CI runs it: lint, the fast tests, then the slow ones.
test: lint test-fast test-integration

# What `cargo test` runs on a fresh clone: the guest, the fixtures and the
# component tests in wasmtime, the fault tests. No apt, musl, Node or Python.
# In release, on the build `make run` made: wasmtime is built once, for both
# (host/Cargo.toml turns on the features the tests' dependencies would add).
test-fast: build
	$(RELEASE_ENV) cargo test --release --workspace

# The tests that need moto, fun, jco, cfn-lint and the x86_64 package; a plain
# `cargo test` lists the Rust ones as ignored.
test-integration: venv node package-x86_64 package-node node/node_modules/.installed target/jco/attacher.js client cdk chromium tests/browser/node_modules/.installed
	$(RELEASE_ENV) cargo test --release --workspace -- --ignored
	cd tests/node && node --test --test-timeout=120000
	cd client && npm test
	cd cdk && npm test
	cd tests/browser && node --test --test-timeout=120000
	$(VENV)/bin/python -m unittest discover -s tests/deploy -v
	$(VENV)/bin/python -m unittest discover -s tests/moto -v

lint: .wasm-target
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p attach-iot-policy-guest --target wasm32-wasip2 -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf dist client/dist cdk/dist .wasm-target .musl-tools .zig-tools
