"""Finding #9: a ``jobs.manage`` holder cannot grow the job catalogue past what one frame
to the game server carries (WS_MAX_JOBS, WS_MAX_JOB_GRADES, WS_MAX_JOBS_BYTES); a refused
change is an ``invalid_payload`` naming the limit, stores nothing, and the bridge stays."""

from __future__ import annotations

import pytest

from game.models import Job, JobGrade
from tests.game.conftest import admin, fast_passwords, game, people  # noqa: F401 (fixtures)
from tests.game.support import ask

pytestmark = pytest.mark.django_db(transaction=True)


def job(name: str, grades: int = 1, label: str = "Label") -> dict:
    return {"name": name, "label": name,
            "grades": [{"grade": g, "name": f"g{g}", "label": label} for g in range(grades)]}


async def test_job_count_is_bounded(admin, game, settings):  # noqa: F811
    settings.WS_MAX_JOBS = 2
    for name in ("a", "b"):
        assert (await ask(admin, "createJob", job(name)))["event"] == "success"
    reply = await ask(admin, "createJob", job("c"))
    assert reply["event"] == "error"
    assert reply["data"]["code"] == "invalid_payload"
    assert "At most 2 jobs (WS_MAX_JOBS)" in reply["data"]["message"]
    assert sorted([j async for j in Job.objects.values_list("name", flat=True)]) == ["a", "b"]
    assert [j["name"] for j in game.world.jobs] == ["a", "b"]
    assert (await ask(admin, "ping"))["event"] == "pong"


async def test_grades_per_job_are_bounded(admin, game):  # noqa: F811
    reply = await ask(admin, "createJob", job("police", grades=51))
    assert reply["data"]["code"] == "invalid_payload"
    assert "At most 50 grades per job (WS_MAX_JOB_GRADES)" in reply["data"]["message"]
    assert not await Job.objects.aexists()
    assert (await ask(admin, "createJob", job("police", grades=50)))["event"] == "success"


async def test_catalogue_size_is_bounded_and_a_refused_update_changes_nothing(admin, game, settings):  # noqa: F811
    settings.WS_MAX_JOBS_BYTES = 3000
    assert (await ask(admin, "createJob", job("police", grades=5)))["event"] == "success"
    reply = await ask(admin, "createJob", job("ems", grades=20, label="x" * 100))
    assert reply["data"]["code"] == "invalid_payload"
    assert "(WS_MAX_JOBS_BYTES)" in reply["data"]["message"]
    reply = await ask(admin, "updateJob", {"name": "police", "grades": job("p", 30, "y" * 100)["grades"]})
    assert reply["data"]["code"] == "invalid_payload"
    assert await JobGrade.objects.acount() == 5
    assert [j["name"] for j in game.world.jobs] == ["police"]
    assert len(game.world.jobs[0]["grades"]) == 5
