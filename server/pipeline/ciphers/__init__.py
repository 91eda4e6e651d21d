"""The pipeline's cipher stages for chunk bytes: age v1 (one age file per chunk). The
formats themselves (age header and stanzas, WinZip AES, the readers) are the export
format's, sluice.format, which the client reads exports with; the zip container with
its optional AES is a compressor (server/pipeline/zip_container.py).
"""
