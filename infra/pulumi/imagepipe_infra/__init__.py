"""The imagepipe stack's components; `../__main__.py` composes them."""
