"""The user-facing ``rayop`` subcommands (cluster, job, service, session, api), on :mod:`rayop.sdk`.

Each module's ``register(sub)`` adds one subcommand to ``rayop``'s parser (one line each in ``rayop/cli.py``).
"""
