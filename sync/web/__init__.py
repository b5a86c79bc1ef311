"""The HTTP side: each function's routes, decoding a request and answering it, and the helpers
they share (``http``: JSON answers and body limits; ``push``: the boundary of the push-fed
functions; ``tokens``: the platform's JWTs). Routes call one use case from the container they are
handed (sync/bootstrap.py) and map its errors to statuses; ``except Exception`` lives only here,
at each function's boundary, logged with its stack."""
