"""Running the platform's processes on one machine (not imported by the API or the worker)."""
