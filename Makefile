# Thin wrappers; each target is a word the README uses.
.PHONY: build guest run test lint fmt clean venv

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

build: guest
	cargo build --release -p attach-iot-policy

run: build
	$(RUN_ENV) $(BIN) invoke --simulate --event examples/event-rest.json

test: guest lint venv
	cargo test --workspace

lint: .wasm-target
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p attach-iot-policy-guest --target wasm32-wasip2 -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -f .wasm-target
