"""Recovery: the shared loop, ``@mark`` for functions, command running, cycle fingerprints."""
