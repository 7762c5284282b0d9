"""Jobs over the real ASGI app: create, update, delete, pushed to the game server and
broadcast; bad input changes nothing; jobs reach a bridge with every snapshot."""

from __future__ import annotations

import pytest

from game.models import AuditEntry, Job, JobGrade
from tests.game.support import ask, simulated

pytestmark = pytest.mark.django_db(transaction=True)

POLICE = {
    "name": "police",
    "label": "Los Santos Police Department",
    "grades": [{"grade": 1, "name": "officer", "label": "Officer", "salary": 150},
               {"grade": 0, "name": "cadet", "label": "Cadet", "salary": 100}],
}
POLICE_OUT = {
    "name": "police",
    "label": "Los Santos Police Department",
    "grades": [{"grade": 0, "name": "cadet", "label": "Cadet", "salary": 100},
               {"grade": 1, "name": "officer", "label": "Officer", "salary": 150}],
}


async def test_create_job_is_stored_pushed_and_broadcast(admin, viewer, game):
    reply = await ask(admin, "createJob", POLICE)
    assert reply["data"] == {"message": "Job police created", "job": POLICE_OUT, "pushed": True}
    assert (await viewer.expect("jobsChanged"))["data"] == {"action": "created", "job": POLICE_OUT}
    assert game.world.jobs == [POLICE_OUT]
    assert game.printed("jobs     1 definitions received")
    assert (await ask(viewer, "getJobs"))["data"] == {"jobs": [POLICE_OUT]}
    entry = await AuditEntry.objects.aget()
    assert (entry.action, entry.outcome, entry.target) == ("job.create", "ok", "job police")
    assert entry.detail == "saved and pushed to the game server: loaded 1 job definitions"


async def test_update_and_delete(admin, game):
    await ask(admin, "createJob", POLICE)
    reply = await ask(admin, "updateJob", {"name": "police", "label": "LSPD"})
    assert reply["data"]["job"] == {**POLICE_OUT, "label": "LSPD"}
    reply = await ask(admin, "updateJob", {"name": "police", "grades": [{"grade": 0, "name": "rookie"}]})
    assert reply["data"]["job"]["grades"] == [{"grade": 0, "name": "rookie", "label": "", "salary": 0}]
    assert game.world.jobs[0]["grades"][0]["name"] == "rookie"
    reply = await ask(admin, "deleteJob", {"name": "police"})
    assert reply["data"] == {"message": "Job police deleted", "job": {"name": "police"}, "pushed": True}
    assert game.world.jobs == []
    assert not await JobGrade.objects.aexists()
    actions = [a async for a in AuditEntry.objects.order_by("id").values_list("action", flat=True)]
    assert actions == ["job.create", "job.update", "job.update", "job.delete"]


async def test_job_changes_while_the_game_server_is_offline_reach_it_with_its_snapshot(admin, people):
    reply = await ask(admin, "createJob", POLICE)
    assert reply["data"]["pushed"] is False
    entry = await AuditEntry.objects.aget()
    assert entry.outcome == "ok"
    assert entry.detail == "saved; the game server is offline and gets the jobs when it reconnects"
    server = await simulated()
    try:
        assert server.world.jobs == [POLICE_OUT]
        assert server.printed("snapshot 2 players online, 1 jobs known")
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("event", "data", "code", "message"),
    [
        ("createJob", {"label": "x"}, "invalid_payload", "Invalid createJob: name: This field is required."),
        ("createJob", {"name": "", "label": "x"}, "invalid_payload", "Invalid createJob: name: This field may not be blank."),
        ("createJob", {"name": "Police!", "label": "x"}, "invalid_payload",
         "Invalid createJob: name: 'Police!' is not a job name: use lowercase letters, digits and _ (e.g. police)."),
        ("createJob", {"name": "taxi"}, "invalid_payload", "Invalid createJob: label: This field is required."),
        ("createJob", {"name": "taxi", "label": "Taxi", "grades": [{"grade": 0, "name": "a"}, {"grade": 0, "name": "b"}]},
         "invalid_payload", "Invalid createJob: grades: Grade 0 appears more than once."),
        ("createJob", {"name": "taxi", "label": "Taxi", "grades": [{"grade": -1, "name": "a"}]},
         "invalid_payload", "Invalid createJob: grades.0.grade: Ensure this value is greater than or equal to 0."),
        ("createJob", {**POLICE, "label": "again"}, "conflict", "A job named 'police' exists already; use updateJob"),
        ("updateJob", {"name": "police"}, "invalid_payload", "Invalid updateJob: Give label and/or grades to change."),
        ("updateJob", {"name": "nope", "label": "x"}, "not_found", "No job named 'nope'"),
        ("deleteJob", {"name": "nope"}, "not_found", "No job named 'nope'"),
        ("deleteJob", {}, "invalid_payload", "Invalid deleteJob: name: This field is required."),
    ],
)
async def test_bad_job_changes_get_clear_errors_and_leave_nothing(admin, game, event, data, code, message):
    await ask(admin, "createJob", POLICE, request_id="setup")
    before = (await Job.objects.acount(), await JobGrade.objects.acount(), await AuditEntry.objects.acount())
    reply = await ask(admin, event, data)
    assert reply["data"]["code"] == code and reply["data"]["message"] == message
    after = (await Job.objects.acount(), await JobGrade.objects.acount(), await AuditEntry.objects.acount())
    assert after == before
    assert (await ask(admin, "getJobs"))["data"]["jobs"] == [POLICE_OUT]


async def test_jobs_manage_is_needed_to_change_jobs(viewer):
    reply = await ask(viewer, "createJob", POLICE)
    assert reply["data"]["code"] == "permission_denied"
    assert not await Job.objects.aexists()


async def test_get_jobs_pages_through_the_catalogue_by_name(viewer, people):
    from channels.db import database_sync_to_async

    def catalogue() -> None:
        for i in range(7):
            job = Job.objects.create(name=f"job{i}", label=f"Job {i}")
            JobGrade.objects.create(job=job, grade=0, name="worker", label="Worker", salary=10)

    await database_sync_to_async(catalogue)()
    everything = (await ask(viewer, "getJobs"))["data"]
    assert list(everything) == ["jobs"]  # the spec's reply, whole, without paging fields
    names, after, pages = [], "", 0
    while True:
        data = (await ask(viewer, "getJobs", {"limit": 3, "after": after}))["data"]
        names += [job["name"] for job in data["jobs"]]
        pages += 1
        if data["next"] is None:
            break
        after = data["next"]
    assert pages == 3 and names == [job["name"] for job in everything["jobs"]]
    # A job added before the cursor does not shift the next page (keyset paging).
    first = (await ask(viewer, "getJobs", {"limit": 3}))["data"]
    await database_sync_to_async(Job.objects.create)(name="a_first", label="A")
    second = (await ask(viewer, "getJobs", {"limit": 3, "after": first["next"]}))["data"]
    assert [job["name"] for job in second["jobs"]] == ["job3", "job4", "job5"]


@pytest.mark.parametrize(("data", "message"), [
    ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "3"}, "limit"),
    ({"after": "job1"}, "give limit too"),
])
async def test_bad_paging_gets_a_clear_error(viewer, data, message):
    reply = await ask(viewer, "getJobs", data)
    assert reply["event"] == "error" and reply["data"]["code"] == "invalid_payload"
    assert message in reply["data"]["message"]
