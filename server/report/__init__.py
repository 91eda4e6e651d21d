"""The export report (`--report`): report.html and report.pdf beside the manifest, for
people. Both are rendered from one ReportModel built from the manifest, so they say the
same things; neither links anything outside itself."""
