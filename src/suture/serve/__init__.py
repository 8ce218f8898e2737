"""The scoring service: ``suture serve BUNDLE``.

A Starlette app (run by uvicorn) that checks each request with the bundle's contract,
scores it with the bundle's feature pipeline and model (the objects batch scoring uses),
archives every decision before acknowledging it, and watches its own inputs for drift
against the training profile.  See ``docs/serve.md``.
"""
