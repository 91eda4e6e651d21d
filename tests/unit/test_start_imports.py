"""What a daemon imports to start. The SDKs of stores it may never write to (Azure,
S3), the PDF library of the report few exports ask for, and the tracing SDK of an
`otel_endpoint` that is off by default are imported where they are used: imported at
start they were most of its second of CPU, paid at every rolling restart and by every
replica taking over exports. Checked in a fresh interpreter, in sys.modules: an import
graph, not a timing, so it fails only when one of them comes back."""

from __future__ import annotations

from tests.unit.fresh_interpreter import run_fresh

#: Imported only by the code that uses them (sinks/azure/__init__.py, sinks/s3/__init__.py,
#: server/execution/documents.py, server/tracing.py).
_ON_USE = (
    "aiohttp",
    "azure.core",
    "azure.identity",
    "azure.storage.blob",
    "botocore",
    "opentelemetry.exporter.otlp",
    "opentelemetry.sdk",
    "reportlab",
)


def test_serve_imports_no_sdk_it_may_not_use() -> None:
    # What `sluice serve` imports before it starts: the CLI, then the daemon's module.
    out = run_fresh(
        f"""
        import sys
        import sluice.client.cli.main
        import sluice.server.main
        print(sorted(m for m in {_ON_USE!r} if m in sys.modules))
        """
    )
    assert out == "[]"


def test_a_cloud_sink_brings_its_sdk_when_opened() -> None:
    out = run_fresh(
        """
        import sys
        from sluice.sinks import open_sink
        before = "botocore" in sys.modules
        open_sink("s3://bucket/exports")  # builds a client, contacts nothing
        from sluice.sinks.azure import AzureSink
        from sluice.sinks.azure.sink import AzureSink as Defined
        from sluice.sinks.s3 import S3Sink
        from sluice.sinks.s3.sink import S3Sink as S3Defined
        print(before, "botocore" in sys.modules, "azure.storage.blob" in sys.modules,
              AzureSink is Defined, S3Sink is S3Defined)
        """
    )
    assert out == "False True True True True"


def test_a_name_the_cloud_packages_lack_is_still_an_import_error() -> None:
    out = run_fresh(
        """
        try:
            from sluice.sinks.azure import AzureSinkk
        except ImportError as exc:
            print(type(exc).__name__, "AzureSinkk" in str(exc))
        """
    )
    assert out == "ImportError True"
