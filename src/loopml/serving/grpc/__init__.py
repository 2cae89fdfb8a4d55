"""The Open Inference Protocol over gRPC: KServe's ``inference.GRPCInferenceService`` (``loopml serve --grpc-port``).

``grpc_predict_v2.proto`` is vendored from KServe (Apache-2.0); ``*_pb2.py`` and ``*_pb2_grpc.py``
are generated from it by grpcio-tools with ``make proto``, which puts the messages in a private
descriptor pool: tritonclient registers the same ``inference.*`` names in protobuf's default pool, and
both may live in one process (``tests/serving/test_oip_setup.py`` checks the modules are current).
The service itself is :mod:`loopml.serving.grpc.service`.
"""
