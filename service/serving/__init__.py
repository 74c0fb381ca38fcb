"""The serving layer: Flask under hypercorn, each piece in a module of its own.

``app`` is the ASGI application ``asgi.py`` serves; it hands each exchange
through ``limits`` (head and body bounds, refused framings), ``exchange``
(asgiref's WSGI adapter run in the greenlet ``bridge``) and ``access_log``,
with ``headers`` on every response and ``lifespan`` opening the ``runtime``'s
pools. ``hypercorn_h11`` gives hypercorn's own refusals the same problem+json, and
``drain`` keeps keep-alive connections answering through a SIGTERM. The path of a
request through them: docs/architecture.md.
"""
