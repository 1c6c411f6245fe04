"""Image-quality measures (SSIM, CIEDE2000) and their references, for tests and benchmarks only.

They tune every encoder setting, but the running platform never measures: this package sits
outside app/ and is not installed with it (tests/test_layering.py keeps it out of the runtime).
"""
