"""The mail stage: sending over SMTP, every signed link, and the daily digests (which compose
accounts with the engine)."""
