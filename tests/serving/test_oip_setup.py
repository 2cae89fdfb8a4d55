"""The vendored KServe proto and its generated modules stay in sync; ``--grpc-port`` explains a missing grpcio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopml

SRC = Path(loopml.__file__).parent.parent
PROTO = "loopml/serving/grpc/grpc_predict_v2.proto"
GENERATED = ("loopml/serving/grpc/grpc_predict_v2_pb2.py", "loopml/serving/grpc/grpc_predict_v2_pb2_grpc.py")
DEFAULT_POOL = "_descriptor_pool.Default().AddSerializedFile"
PRIVATE_POOL = "_descriptor_pool.DescriptorPool().AddSerializedFile"


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) regenerates the modules")
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{SRC}", f"--python_out={tmp_path}",
               f"--grpc_python_out={tmp_path}", str(SRC / PROTO)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    pb2 = tmp_path / GENERATED[0]
    pb2.write_text(pb2.read_text().replace(DEFAULT_POOL, PRIVATE_POOL))  # what `make proto` does after protoc
    for path in GENERATED:
        assert (tmp_path / path).read_bytes() == (SRC / path).read_bytes(), f"{path} is stale: run `make proto`"


def test_the_messages_live_in_a_private_pool_beside_tritonclients() -> None:
    """tritonclient registers the same ``inference.*`` names in protobuf's default pool; ours must not
    collide with them in one process (a client and a server in one test, or a user's notebook)."""
    pytest.importorskip("tritonclient.grpc")
    from tritonclient.grpc import service_pb2

    from loopml.serving.grpc import grpc_predict_v2_pb2 as ours

    request = ours.ModelInferRequest(model_name="m", raw_input_contents=[b"\x01"])
    request.inputs.add(name="x", datatype="FP64", shape=[1, 1])
    theirs = service_pb2.ModelInferRequest.FromString(request.SerializeToString())
    assert (theirs.model_name, list(theirs.inputs[0].shape)) == ("m", [1, 1])
    assert list(theirs.raw_input_contents) == [b"\x01"]


def test_the_proto_keeps_kserves_licence_and_package() -> None:
    text = (SRC / PROTO).read_text()
    assert text.startswith("// Copyright 2022 The KServe Authors.")
    assert "Licensed under the Apache License, Version 2.0" in text
    assert "package inference;" in text and "service GRPCInferenceService" in text


def test_grpc_port_without_grpcio_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "grpc"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('grpcio is not installed here')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join([str(blocker.parent), str(SRC), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli", "serve", "models:/bc@production", "--grpc-port", "50123"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "loopml[grpc]" in output and "Traceback" not in output


def test_grpc_port_equal_to_the_http_port_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli", "serve", "models:/bc@production", "-p", "50124", "--grpc-port", "50124"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "give gRPC a port of its own" in result.stdout + result.stderr


def test_grpc_beyond_loopback_needs_insecure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "loopml.cli", "serve", "models:/bc@production", "--host", "0.0.0.0", "--grpc-port",
         "50125"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "--insecure" in output and "Traceback" not in output
