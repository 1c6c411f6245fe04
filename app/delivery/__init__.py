"""Delivery: the responsive manifest the API hands out, and signed, expiring delivery URLs.

``manifest`` builds the ``delivery`` block of ``GET /image/{id}``; ``signing`` grants and
checks access to an image's delivery URLs (HMAC in embedded mode, CloudFront key groups on
AWS, nothing for public images). See docs/delivery.md.
"""
