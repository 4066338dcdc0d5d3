"""The ingest stage: arXiv clients (API crawl, OAI-PMH harvest), the bulk snapshot and
arxiv-sanity-lite imports, and the one upsert path they all write papers through. Never imports
the engine: runners chain the feature update after it."""
