"""The Open Inference Protocol over gRPC: KServe's ``inference.GRPCInferenceService`` (``loopml serve --grpc-port``).

``grpc_predict_v2.proto`` is vendored from KServe (Apache-2.0); ``*_pb2.py`` and ``*_pb2_grpc.py``
are generated from it by grpcio-tools (``tests/serving/test_oip_proto.py`` checks they are current).
The service itself is :mod:`loopml.serving.grpc.service`.
"""
