"""Reproducible throughput and memory benchmarks of exports through a real daemon."""
