# The two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test install lint bench clean proto

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/loopml quickstart --loop

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -n auto --dist loadgroup --durations=25

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/tracking.py

# the OIP gRPC modules from the vendored KServe proto; their messages go in a private descriptor pool,
# since tritonclient registers the same inference.* names in protobuf's default one
proto: install
	$(BIN)/python -m grpc_tools.protoc -Isrc --python_out=src --grpc_python_out=src src/loopml/serving/grpc/grpc_predict_v2.proto
	sed -i 's/_descriptor_pool.Default().AddSerializedFile/_descriptor_pool.DescriptorPool().AddSerializedFile/' \
	    src/loopml/serving/grpc/grpc_predict_v2_pb2.py

clean:
	rm -rf $(VENV) .loopml .pytest_cache .mypy_cache build src/*.egg-info
