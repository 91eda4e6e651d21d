"""Arrow Flight's domain side: DoPut exports, DoGet reads, flight descriptions. The gRPC
servicer (server/rpc/flight_servicer.py) only translates; nothing here imports grpc or
pyarrow.flight (two gRPC cores in one process crash, apache/arrow#13300): payloads are
read and written with pyarrow.ipc."""
