"""Job definitions and their grades. Synchronous ORM code; each change is one transaction
with its (pending) audit entry, finished once the game server has been told."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch

from game import audit
from game.audit import Actor
from game.models import Job, JobGrade
from realtime.protocol import Conflict, InvalidPayload, NotFound

GRADE_FIELDS = ("grade", "name", "label", "salary")


def all_jobs() -> list[dict]:
    """Every job with its grades, in the shape of the spec's ``jobs`` (two queries)."""
    grades = Prefetch("grades", queryset=JobGrade.objects.order_by("grade"))
    return [as_dict(job) for job in Job.objects.order_by("name").prefetch_related(grades)]


def page_of_jobs(limit: int, after: str = "") -> tuple[list[dict], str | None]:
    """Up to ``limit`` jobs by name after the job named ``after``, and the cursor of the next
    page (the last name given) or None when this page ends the catalogue. Keyset paging:
    a job added or removed meanwhile never shifts a page."""
    grades = Prefetch("grades", queryset=JobGrade.objects.order_by("grade"))
    rows = list(Job.objects.filter(name__gt=after).order_by("name").prefetch_related(grades)[: limit + 1])
    page = [as_dict(job) for job in rows[:limit]]
    return page, (page[-1]["name"] if len(rows) > limit else None)


def as_dict(job: Job) -> dict:
    """A job as the socket shows it (grades in the order they were fetched)."""
    return {
        "name": job.name,
        "label": job.label,
        "grades": [{f: getattr(g, f) for f in GRADE_FIELDS} for g in job.grades.all()],
    }


def check_bounds() -> None:
    """Refuse (invalid_payload, rolling back the change) a catalogue past its bounds.

    Run inside the changing transaction, after the change: the one place the job count
    and the catalogue's encoded size are held to ``WS_MAX_JOBS`` / ``WS_MAX_JOBS_BYTES``,
    so the catalogue always fits in one frame to the game server.
    """
    count = Job.objects.count()
    if count > settings.WS_MAX_JOBS:
        raise InvalidPayload(f"At most {settings.WS_MAX_JOBS} jobs (WS_MAX_JOBS); delete one first")
    size = len(json.dumps(all_jobs(), separators=(",", ":")).encode())
    if size > settings.WS_MAX_JOBS_BYTES:
        raise InvalidPayload(
            f"The job catalogue would take {size} bytes, over {settings.WS_MAX_JOBS_BYTES} (WS_MAX_JOBS_BYTES)"
        )


def _set_grades(job: Job, grades: list[dict]) -> None:
    if len(grades) > settings.WS_MAX_JOB_GRADES:
        raise InvalidPayload(f"At most {settings.WS_MAX_JOB_GRADES} grades per job (WS_MAX_JOB_GRADES)")
    job.grades.all().delete()
    JobGrade.objects.bulk_create([JobGrade(job=job, **g) for g in grades])


def _fetch(name: str) -> Job:
    return Job.objects.prefetch_related(Prefetch("grades", queryset=JobGrade.objects.order_by("grade"))).get(
        name=name
    )


def create(actor: Actor, data: dict) -> tuple[dict, int]:
    """A new job; (the job, its pending audit entry id)."""
    try:
        with transaction.atomic():
            job = Job.objects.create(name=data["name"], label=data["label"])
            _set_grades(job, data["grades"])
            check_bounds()
            entry = audit.start(actor, "job.create", f"job {job.name}", {"job": data})
    except IntegrityError:
        raise Conflict(f"A job named {data['name']!r} exists already; use updateJob") from None
    return as_dict(_fetch(job.name)), entry


def update(actor: Actor, data: dict) -> tuple[dict, int]:
    """Change a job's label and/or replace its grades; (the job, its pending audit entry id)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(name=data["name"]).first()
        if job is None:
            raise NotFound(f"No job named {data['name']!r}")
        if "label" in data:
            job.label = data["label"]
        job.save()
        if "grades" in data:
            _set_grades(job, data["grades"])
        check_bounds()
        entry = audit.start(actor, "job.update", f"job {job.name}", {"changes": data})
    return as_dict(_fetch(job.name)), entry


def delete(actor: Actor, name: str) -> int:
    """Delete a job and its grades; its pending audit entry id."""
    with transaction.atomic():
        deleted, _ = Job.objects.filter(name=name).delete()
        if not deleted:
            raise NotFound(f"No job named {name!r}")
        return audit.start(actor, "job.delete", f"job {name}", {"name": name})
