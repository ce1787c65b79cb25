"""App-side I/O: NVML, psutil telemetry, configuration, paths, the doctor, bundles."""
