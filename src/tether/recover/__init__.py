"""Recovery: the shared loop, ``@mark`` for functions, commands as jobs, cycle fingerprints."""
