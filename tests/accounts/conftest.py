import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Test users' passwords hashed cheaply (the default hasher costs ~0.3 s per hash)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
