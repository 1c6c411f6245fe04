"""Who is calling: bearer tokens, verified by the issuer the settings name."""
