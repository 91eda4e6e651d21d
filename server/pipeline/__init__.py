"""The export pipeline: source batches -> query -> redaction -> chunk boundaries ->
encoder -> compressor -> cipher -> digests -> sink, on bounded threads. It runs with a
`config.PipelineConfig` (built by planning from the ExportPlan) and reports
`results.ChunkResult` and `PipelineProgress` (journalled as job records by the execution
layer); it imports neither planning nor jobs, and never grpc."""
