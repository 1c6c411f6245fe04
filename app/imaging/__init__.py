"""Pure image steps: probe, decode, orient, colour-convert, resize, encode, placeholder.

Nothing here knows about Flask, Celery, boto3 or SQL: every function takes bytes, paths or images.
"""
