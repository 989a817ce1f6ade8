# ruff: noqa: S608 - the generated SQL interpolates integers this script computed, never input.
"""Curation benchmark: 100,000 synthetic cases in real PostgreSQL, filter latency and snapshot time.

Run against the launcher's services (it creates and drops its own database):
    .venv/bin/python -m backend.launcher exec -- .venv/bin/python tests/bench/bench_curation.py

Rows are generated inside PostgreSQL (INSERT ... SELECT over generate_series, deterministic arithmetic in
place of randomness), so generation costs no Python per row. Filters run through the same selector the API
uses (keyset page of 50); the baseline is the same filters with the curation indexes dropped (inside a
transaction that is rolled back) and OFFSET pagination for the deep page. Ends with one line:
    BENCH curation filter_p95_ms=... snapshot_s=...
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
for key, value in {
    "DJANGO_SETTINGS_MODULE": "backend.config.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "ALLOWED_HOSTS": "localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SEGMENTATION_PRECOMPUTE_ON_INGEST": "0",
    "LOG_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(key, value)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

CASES = int(os.environ.get("BENCH_CURATION_CASES", "100000"))
SNAPSHOT_CASES = int(os.environ.get("BENCH_CURATION_SNAPSHOT_CASES", "10000"))
RUNS = int(os.environ.get("BENCH_CURATION_RUNS", "15"))
DB_NAME = "readingroom_bench_curation"

# Indexes this app adds (the baseline drops them). Unique constraints back the per-case EXISTS probes.
CURATION_INDEXES = [
    "DROP INDEX curation_label_volume",
    "DROP INDEX curation_stats_dice",
    "DROP INDEX curation_stats_min_dice",
    "DROP INDEX curation_tag_name",
    "DROP INDEX curation_flag_open_case",
    "DROP INDEX curation_flag_open_study",
    "ALTER TABLE curation_caselabelstat DROP CONSTRAINT curation_label_stat_once",
    "DROP INDEX curation_tag_case_once",
    "DROP INDEX curation_tag_study_once",
    "DROP INDEX curation_flag_case_open_once",
    "DROP INDEX curation_flag_study_open_once",
]

FILTERS: dict[str, dict[str, Any]] = {
    "ct signed liver 200-800 mL": {
        "modality": ["CT"],
        "status": ["signed"],
        "labels": [{"label": "Liver", "volume_ml": {"min": 200, "max": 800}}],
    },
    "readers disagree (dice<0.8)": {"agreement": {"mean_dice": {"max": 0.8}}, "status": ["in_review", "signed"]},
    "liver body part, 1-2.5 mm, 2015-18": {
        "body_part": ["LIVER"],
        "slice_thickness": {"min": 1, "max": 2.5},
        "study_date": {"from": "2015-01-01", "to": "2018-12-31"},
    },
    "tumor >=40 mL read by reader1": {"labels": [{"label": 2, "volume_ml": {"min": 40}}], "readers": ["reader1"]},
    "tagged, not flagged": {"tags": ["review-later"], "flagged": False},
    "rare: PT toshiba tumor >=45 mL": {
        "modality": ["PT"],
        "manufacturer": ["toshiba"],
        "labels": [{"label": "Tumor", "volume_ml": {"min": 45}}],
    },
}


def sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)  # no parameters: "%" is the modulo operator here


def generate(project_id: int, reviewer_id: int, readers: list[int]) -> None:
    """~1.3 M rows: studies, series, instances, frames, cases, tasks, consensus + versions + masks,
    sign-offs, per-case statistics, label statistics, tags and flags."""
    n = CASES
    r = readers
    steps: list[tuple[str, str]] = [
        (
            "studies",
            f"""INSERT INTO imaging_study (id, project_id, study_instance_uid, patient_key, study_date,
                study_description, modalities, created_at, updated_at)
            SELECT g, {project_id}, '1.2.826.0.1.' || g, 'P' || (abs(hashtext('p' || g)) % (({n} * 2) / 5)),
                date '2012-01-01' + abs(hashtext('d' || g)) % 4000, '', '["CT"]', now(), now()
            FROM generate_series(1, {n}) g""",
        ),
        (
            "series",
            f"""INSERT INTO imaging_series (id, project_id, study_id, series_instance_uid, split_key, modality,
                body_part, manufacturer, series_number, series_description, frame_of_reference_uid, rows,
                columns, pixel_spacing, image_orientation, slice_spacing, slice_thickness, regular_spacing,
                frame_count, created_at)
            SELECT g, {project_id}, g, '1.2.826.0.2.' || g, '',
                (ARRAY['CT','CT','CT','CT','CT','CT','CT','MR','MR','PT'])[1 + abs(hashtext('m' || g)) % 10],
                (ARRAY['ABDOMEN','CHEST','HEAD','PELVIS','LIVER'])[1 + abs(hashtext('b' || g)) % 5],
                (ARRAY['GE MEDICAL SYSTEMS','SIEMENS','Philips','TOSHIBA'])[1 + abs(hashtext('v' || g)) % 4],
                1, '', '', 512, 512, '[0.8, 0.8]', NULL, 2.5, 0.5 + (abs(hashtext('s' || g)) % 10) * 0.5, true, 1, now()
            FROM generate_series(1, {n}) g""",
        ),
        (
            "instances",
            f"""INSERT INTO imaging_instance (id, project_id, series_id, sop_instance_uid, sop_class_uid,
                instance_number, file, sha256, size, transfer_syntax_uid, rows, columns, number_of_frames,
                samples_per_pixel, photometric_interpretation, bits_allocated, pixel_representation,
                rescale_slope, rescale_intercept, window_presets, deidentified, source, created_at)
            SELECT g, {project_id}, g, '1.2.826.0.3.' || g, '1.2.840.10008.5.1.4.1.1.2', 1, 'bench/' || g,
                md5(g::text) || md5((g + 1)::text), 1024, '1.2.840.10008.1.2.1', 512, 512, 1, 1,
                'MONOCHROME2', 16, 1, 1.0, -1024.0, '[]', true, 'bench', now()
            FROM generate_series(1, {n}) g""",
        ),
        (
            "frames",
            f"""INSERT INTO imaging_frame (id, series_id, instance_id, frame_index, sort_index)
            SELECT g, g, g, 0, 0 FROM generate_series(1, {n}) g""",
        ),
        (
            "cases",
            f"""INSERT INTO annotation_case (id, project_id, series_id, status, priority, created_at)
            SELECT g, {project_id}, g,
                CASE WHEN g % 20 < 14 THEN 'signed' WHEN g % 20 < 17 THEN 'in_review' ELSE 'reading' END,
                0, now()
            FROM generate_series(1, {n}) g""",
        ),
        (
            "tasks",
            f"""INSERT INTO annotation_task (id, case_id, slot, reader_id, status, priority, assigned_at,
                submitted_at, return_comment)
            SELECT 2 * g - 2 + s, g, s,
                CASE WHEN g % 20 >= 17 AND s = 2 THEN NULL
                     ELSE (ARRAY[{r[0]},{r[1]},{r[2]},{r[3]}])[1 + (g + s) % 4] END,
                CASE WHEN g % 20 < 17 THEN 'submitted' WHEN s = 2 THEN 'open' ELSE 'assigned' END,
                0, CASE WHEN g % 20 >= 17 AND s = 2 THEN NULL ELSE timestamptz '2024-01-01' END,
                CASE WHEN g % 20 < 17
                     THEN timestamptz '2024-01-01' + ((g * 101) % 365) * interval '1 day' END, ''
            FROM generate_series(1, {n}) g, generate_series(1, 2) s""",
        ),
        (
            "consensus annotations",
            f"""INSERT INTO annotation_annotation (id, case_id, task_id, kind, author_id, head, created_at)
            SELECT g, g, NULL, 'consensus', {reviewer_id}, 1, now()
            FROM generate_series(1, {n}) g WHERE g % 20 < 17""",
        ),
        (
            "mask versions",
            f"""INSERT INTO annotation_maskversion (id, annotation_id, number, parent_id, author_id, source,
                created_at, frames_changed)
            SELECT g, g, 1, NULL, {reviewer_id}, 'consensus', now(), '[]'
            FROM generate_series(1, {n}) g WHERE g % 20 < 17""",
        ),
        (
            "mask frames",
            f"""INSERT INTO annotation_maskframe (id, version_id, annotation_id, frame_id, number, data, sha256,
                labels_present)
            SELECT g, g, g, g, 1, '\\x789c'::bytea, md5('m' || g) || md5('n' || g),
                CASE WHEN abs(hashtext('t' || g)) % 5 = 0 THEN '[1, 2]' ELSE '[1]' END::jsonb
            FROM generate_series(1, {n}) g WHERE g % 20 < 17""",
        ),
        (
            "sign-offs",
            f"""INSERT INTO annotation_signoff (id, annotation_id, version_id, signer_id, signed_at, manifest,
                digest, meaning)
            SELECT g, g, g, {reviewer_id}, now(), '{{}}', md5('s' || g) || md5('t' || g), 'approved'
            FROM generate_series(1, {n}) g WHERE g % 20 < 14""",
        ),
        (
            "case statistics",
            f"""INSERT INTO curation_casestats (case_id, project_id, reference_annotation_id, reference_number,
                reference_source, readers, mean_dice, min_dice, agreement, inputs, computed_at)
            SELECT g, {project_id}, CASE WHEN g % 20 < 17 THEN g END, CASE WHEN g % 20 < 17 THEN 1 ELSE 0 END,
                CASE WHEN g % 20 < 14 THEN 'signed' WHEN g % 20 < 17 THEN 'consensus' ELSE 'none' END,
                2, d, d - 0.05 * ((g % 3)::float / 2),
                jsonb_build_object('pairs', jsonb_build_array(jsonb_build_object(
                    'a', (ARRAY[{r[0]},{r[1]},{r[2]},{r[3]}])[1 + (g + 1) % 4],
                    'b', (ARRAY[{r[0]},{r[1]},{r[2]},{r[3]}])[1 + (g + 2) % 4], 'label', 1, 'dice', d))),
                '', now()
            FROM (SELECT g, round((0.6 + 0.4 * sqrt((abs(hashtext('q' || g)) % 1000) / 1000.0))::numeric, 4)::float AS d
                  FROM generate_series(1, {n}) g) x
            WHERE g % 20 < 17""",
        ),
        (
            "label statistics",
            f"""INSERT INTO curation_caselabelstat (case_id, project_id, label_value, voxels, volume_ml, slices,
                mean_dice)
            SELECT g, {project_id}, 1, 1000, 50 + (abs(hashtext('l' || g)) % 3000) * 0.5, 1, 0.9
            FROM generate_series(1, {n}) g WHERE g % 20 < 17
            UNION ALL
            SELECT g, {project_id}, 2, 10, 0.5 + (abs(hashtext('u' || g)) % 200) * 0.25, 1, 0.7
            FROM generate_series(1, {n}) g WHERE g % 20 < 17 AND abs(hashtext('t' || g)) % 5 = 0""",
        ),
        (
            "tags and flags",
            f"""INSERT INTO curation_tag (project_id, case_id, study_id, name, created_at)
            SELECT {project_id}, g, NULL, 'review-later', now() FROM generate_series(1, {n}) g
            WHERE abs(hashtext('g' || g)) % 20 = 3;
            INSERT INTO curation_qualityflag (project_id, case_id, study_id, kind, reason, created_at)
            SELECT {project_id}, g, NULL, 'motion_artefact', '', now() FROM generate_series(1, {n}) g
            WHERE abs(hashtext('f' || g)) % 50 = 7""",
        ),
    ]
    for name, statement in steps:
        started = time.perf_counter()
        with transaction.atomic():
            sql(statement)
        print(f"  {name:<24} {time.perf_counter() - started:6.2f} s", flush=True)
    for table in (
        "imaging_study",
        "imaging_series",
        "imaging_instance",
        "imaging_frame",
        "annotation_case",
        "annotation_task",
        "annotation_annotation",
        "annotation_maskversion",
        "annotation_maskframe",
        "annotation_signoff",
    ):
        sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    sql("ANALYZE")


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm: plans and caches, as a server that has been up a while
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> int:
    from backend.accounts.models import ProjectMembership, User
    from backend.annotation.models import Case, CaseStatus
    from backend.annotation.services import project_create
    from backend.curation import filters, selectors
    from backend.curation.snapshots import snapshot_create

    old_name = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = DB_NAME
    started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    print(f"database {DB_NAME} created and migrated in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        owner = User.objects.create_user(username="owner", password="x")
        reviewer = User.objects.create_user(username="reviewer", password="x")
        readers = [User.objects.create_user(username=f"reader{i}", password="x") for i in range(1, 5)]
        project = project_create(creator=owner, slug="bench", name="Bench")
        from backend.annotation.models import Label

        Label.objects.create(project=project, value=1, name="Liver", color="#aa3300")
        Label.objects.create(project=project, value=2, name="Tumor", color="#00aa33")
        ProjectMembership.objects.create(project=project, user=reviewer, role="reviewer")
        for reader in readers:
            ProjectMembership.objects.create(project=project, user=reader, role="annotator")
        print(f"generating {CASES} cases:", flush=True)
        started = time.perf_counter()
        generate(project.pk, reviewer.pk, [u.pk for u in readers])
        generation_s = time.perf_counter() - started
        print(f"generated in {generation_s:.1f} s", flush=True)

        roles = {project.pk: "owner"}
        deep = selectors.cursor_encode("case", int(CASES * 0.9))

        def run_filter(document: dict[str, Any], cursor: str | None) -> Callable[[], Any]:
            parsed = filters.filter_parse(document)
            return lambda: selectors.find(user=owner, f=parsed, roles=roles, cursor=cursor, limit=50)

        def count_and_offset(document: dict[str, Any]) -> Callable[[], Any]:
            """The naive list view: COUNT(*) for the page count, then OFFSET to the page (60% deep)."""
            parsed = filters.filter_parse(document)

            def run() -> Any:
                queryset = selectors.filter_queryset(f=parsed, roles=roles, user=owner)
                offset = int(queryset.count() * 0.6)
                ids = list(queryset.order_by("pk").values_list("pk", flat=True)[offset : offset + 50])
                return selectors.case_rows(case_ids=ids)

            return run

        if os.environ.get("BENCH_CURATION_EXPLAIN"):
            for name, document in FILTERS.items():
                queryset = selectors.filter_queryset(f=filters.filter_parse(document), roles=roles, user=owner)
                print(f"--- {name}\n" + queryset.order_by("pk").values("pk")[:51].explain(analyze=True))
        rows: list[dict[str, Any]] = []
        ours: list[float] = []
        naive: list[float] = []
        for name, document in FILTERS.items():
            matches = selectors.filter_queryset(f=filters.filter_parse(document), roles=roles, user=owner).count()
            first = timed(run_filter(document, None), RUNS)
            deep_page = timed(run_filter(document, deep), RUNS)
            offset = timed(count_and_offset(document), max(3, RUNS // 3))
            ours += first + deep_page
            naive += offset
            rows.append(
                {"name": name, "matches": matches, "first": p95(first), "deep": p95(deep_page), "naive": p95(offset)}
            )
        # Baseline: the same keyset queries without the curation indexes (dropped, then rolled back).
        baseline: list[float] = []
        with transaction.atomic():
            for statement in CURATION_INDEXES:
                sql(statement)
            for row, document in zip(rows, FILTERS.values(), strict=True):
                values = timed(run_filter(document, None), max(3, RUNS // 3)) + timed(
                    run_filter(document, deep), max(3, RUNS // 3)
                )
                baseline += values
                row["no_index"] = p95(values)
            transaction.set_rollback(True)

        print()
        header = (
            f"{'filter (keyset page of 50)':<36} {'matches':>7} {'first':>8} {'deep':>8} {'no-idx':>8}"
            f" {'count+offset':>12}"
        )
        print(header + "\n" + "-" * len(header))
        for row in rows:
            print(
                f"{row['name']:<36} {row['matches']:>7} {row['first']:>6.1f}ms {row['deep']:>6.1f}ms"
                f" {row['no_index']:>6.1f}ms {row['naive']:>10.1f}ms"
            )
        filter_p95 = p95(ours)
        print("-" * len(header))
        print(f"{'p95 over all runs':<36} {'':>7} {filter_p95:>15.1f}ms {p95(baseline):>6.1f}ms {p95(naive):>10.1f}ms")

        # A 10,000-case snapshot with patient-grouped, label-stratified splits.
        chosen = list(
            Case.objects.filter(project=project, status=CaseStatus.SIGNED)
            .order_by("pk")
            .values_list("pk", flat=True)[:SNAPSHOT_CASES]
        )
        profiler = None
        if os.environ.get("BENCH_CURATION_PROFILE"):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        snapshot, created = snapshot_create(
            project=project,
            user=owner,
            name="bench",
            ratios={"train": 0.8, "val": 0.1, "test": 0.1},
            seed=1,
            case_ids=chosen,
            include_flagged=True,
        )
        snapshot_s = time.perf_counter() - started
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        assert created
        patients_in_two = (
            (snapshot.items.values("patient_key").order_by().annotate(n=django.db.models.Count("split", distinct=True)))
            .filter(n__gt=1)
            .count()
        )
        print(
            f"\nsnapshot of {snapshot.case_count} cases in {snapshot_s:.2f} s: splits {snapshot.split_counts['cases']},"
            f" patients in two splits: {patients_in_two}, hash {snapshot.content_hash[:12]}"
        )
        print(f"generation {generation_s:.1f} s for {CASES} cases")
        print(f"BENCH curation filter_p95_ms={filter_p95:.1f} snapshot_s={snapshot_s:.2f}")
        return 0
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
