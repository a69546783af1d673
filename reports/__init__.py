"""The benchmark report: reads pytest-benchmark JSON only (never imports bench/ or methods/)."""
