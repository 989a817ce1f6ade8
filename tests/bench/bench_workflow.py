"""`make bench-workflow`: 20 simulated readers pull, annotate and submit 2,000 tasks at once against real
PostgreSQL (the services the API calls), then check for double assignments and lost saves.

Baseline in the same run: the same pulls with one reader at a time (no contention), so the table shows
what concurrency costs or gains on this machine."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import numpy as np

from tests.bench.common import bench_database, print_table

READERS = int(os.environ.get("BENCH_READERS", "20"))
TASKS = int(os.environ.get("BENCH_TASKS", "2000"))
READS_PER_CASE = 2


def _setup(slug: str, cases: int):
    from backend.accounts.models import ProjectMembership, User
    from backend.annotation.models import Label, ReadingPolicy
    from backend.annotation.services import case_create, project_create
    from backend.imaging.models import Frame, Instance, Series, Study

    owner = User.objects.create_user(username=f"{slug}-owner", password="x")
    project = project_create(creator=owner, slug=slug, name=slug)
    ReadingPolicy.objects.filter(project=project).update(readers_per_case=READS_PER_CASE, review_stage=True)
    Label.objects.create(project=project, value=1, name="Lesion", color="#ff0000")
    study = Study.objects.create(project=project, study_instance_uid=f"2.25.{abs(hash(slug))}")
    for index in range(cases):
        series = Series.objects.create(
            project=project, study=study, series_instance_uid=f"2.25.{index}", rows=64, columns=64, frame_count=1
        )
        instance = Instance.objects.create(
            project=project,
            series=series,
            sop_instance_uid=f"2.25.9{index}",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            file="synthetic",
            sha256="0" * 64,
            size=0,
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            rows=64,
            columns=64,
            photometric_interpretation="MONOCHROME2",
            bits_allocated=16,
        )
        Frame.objects.create(series=series, instance=instance)
        case_create(project=project, series=series, actor=None)
    readers = []
    for index in range(READERS):
        user = User.objects.create_user(username=f"{slug}-reader{index}", password="x")
        ProjectMembership.objects.create(project=project, user=user, role="annotator")
        readers.append(user)
    return project, readers


def _reader_loop(project, reader, got: list[int], saves: Counter[int], errors: list[str]) -> None:
    from django.db import connection

    from backend.annotation.masks import annotation_for_task, mask_save
    from backend.annotation.services import task_next_for_reader, task_submit
    from backend.common.rle import rle_encode_labels
    from backend.imaging.models import Frame

    rng = np.random.default_rng(reader.pk)
    try:
        while True:
            task = task_next_for_reader(project=project, reader=reader)
            if task is None:
                break
            got.append(task.pk)
            annotation = annotation_for_task(task=task, user=reader)
            frame = Frame.objects.select_related("instance").get(series_id=task.case.series_id)
            labels = np.zeros((64, 64), np.uint8)
            y, x = rng.integers(0, 40, size=2)
            labels[y : y + 20, x : x + 20] = 1
            mask_save(
                annotation=annotation,
                user=reader,
                base_version=annotation.head,
                frames={str(frame.pk): rle_encode_labels(labels)},
                source="brush",
            )
            saves[annotation.pk] += 1
            task_submit(task=task, user=reader)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports failures instead of dying mid-run
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def run(slug: str, readers_at_once: int) -> dict[str, float]:
    from backend.annotation.models import Annotation, MaskVersion, Task

    project, readers = _setup(slug, TASKS // READS_PER_CASE)
    per_reader: dict[int, list[int]] = {r.pk: [] for r in readers}
    saves: Counter[int] = Counter()
    errors: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(readers), readers_at_once):
        threads = [
            threading.Thread(target=_reader_loop, args=(project, r, per_reader[r.pk], saves, errors))
            for r in readers[start : start + readers_at_once]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    all_tasks = [t for tasks in per_reader.values() for t in tasks]
    double = len(all_tasks) - len(set(all_tasks))
    same_reader_twice = sum(
        c - 1
        for c in Counter(
            Task.objects.filter(case__project=project).exclude(reader=None).values_list("case_id", "reader_id")
        ).values()
        if c > 1
    )
    stored = Counter(
        MaskVersion.objects.filter(annotation__case__project=project).values_list("annotation_id", flat=True)
    )
    heads = dict(Annotation.objects.filter(case__project=project).values_list("pk", "head"))
    lost = sum(
        1 for annotation_id, count in saves.items() if stored[annotation_id] != count or heads[annotation_id] != count
    )
    submitted = Task.objects.filter(case__project=project, status="submitted").count()
    return {
        "tasks": submitted,
        "seconds": elapsed,
        "tasks_per_s": submitted / elapsed,
        "double": double + same_reader_twice,
        "lost": lost,
        "errors": len(errors),
    }


def main() -> None:
    with bench_database(f"rr_bench_workflow_{os.getpid()}"):
        concurrent = run("bench-concurrent", READERS)
        serial = run("bench-serial", 1)
    print_table(
        f"{READERS} simulated readers, {TASKS} tasks ({READS_PER_CASE} reads per case), real PostgreSQL",
        ["mode", "tasks submitted", "seconds", "tasks/s", "double assignments", "lost saves", "errors"],
        [
            [
                name,
                int(r["tasks"]),
                f"{r['seconds']:.1f}",
                f"{r['tasks_per_s']:.1f}",
                int(r["double"]),
                int(r["lost"]),
                int(r["errors"]),
            ]
            for name, r in (("20 readers at once", concurrent), ("one reader at a time (baseline)", serial))
        ],
    )
    print(
        f"BENCH workflow tasks_per_s={concurrent['tasks_per_s']:.1f} double_assignments={int(concurrent['double'])} "
        f"lost_saves={int(concurrent['lost'])}"
    )


if __name__ == "__main__":
    main()
