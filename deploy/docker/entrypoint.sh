#!/bin/sh
# ReadingRoom container entrypoint: `web`, `worker`, `migrate`, `check`, or any command.
#
# Before the web server or a worker starts, `python -m backend.config.checks` proves that PostgreSQL
# (DATABASE_URL), Redis (REDIS_URL) and, with STORAGE_BACKEND=s3, the bucket (S3_BUCKET) answer, retrying
# for READINGROOM_SERVICE_WAIT_S; a wrong setting stops the container with one line naming it.
set -eu

wait_s="${READINGROOM_SERVICE_WAIT_S:-60}"

check() {
    python -m backend.config.checks --wait "$wait_s"
}

case "${1:-web}" in
    web)
        check
        # --proxy-headers: client addresses from X-Forwarded-For set by nginx / the ingress controller.
        exec daphne -b 0.0.0.0 -p "${PORT:-8000}" --proxy-headers \
            --application-close-timeout 20 backend.config.asgi:application
        ;;
    worker)
        check
        # SIGTERM (docker stop, pod deletion) with REMAP_SIGTERM=SIGQUIT: stop taking tasks, give the running
        # one WORKER_SOFT_SHUTDOWN_S to finish, then hand it back to the queue at once and exit. Keep the
        # orchestrator's grace period longer than that (compose stop_grace_period, terminationGracePeriodSeconds).
        exec celery -A backend.config worker \
            -Q "${WORKER_QUEUES:?set WORKER_QUEUES, e.g. interactive or embed,io}" \
            -n "${WORKER_NAME:-worker}@%h" \
            -c "${WORKER_CONCURRENCY:-1}" \
            --without-gossip --without-mingle --loglevel "${LOG_LEVEL:-INFO}" \
            -- "worker.soft_shutdown_timeout=${WORKER_SOFT_SHUTDOWN_S:-20}"
        ;;
    migrate)
        check
        python manage.py migrate --noinput
        exec python manage.py check --deploy
        ;;
    check)
        exec python -m backend.config.checks --wait "$wait_s"
        ;;
    *)
        exec "$@"
        ;;
esac
