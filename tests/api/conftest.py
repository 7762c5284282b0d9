from tests.game.conftest import admin, bridge, fast_passwords, game, people, viewer  # noqa: F401 (fixtures)
