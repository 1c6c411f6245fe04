"""Operating the platform: its processes on one machine (supervise) and its AWS set-up (provision).

Neither the API nor the worker imports this package (tests/test_layering.py checks).
"""
