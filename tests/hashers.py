"""A cheap Argon2 for the test suite: same algorithm and encoding as production, a fraction
of the memory and time, so that the hundreds of sign-ups and sign-ins stay fast."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 256
    parallelism = 1
