#!/bin/sh
# Make the secret files deploy/compose.yaml mounts (once per installation; existing files are kept).
#   deploy/make-secrets.sh [HOSTNAME]
# HOSTNAME (default: localhost) goes into a self-signed TLS certificate for a first start; replace
# secrets/tls_cert.pem and secrets/tls_key.pem with your CA-issued pair (README: TLS).
set -eu
cd "$(dirname "$0")/secrets"
umask 077
host="${1:-localhost}"

random() { openssl rand -hex "${1:-32}"; }
keep_or_write() {  # name value
    if [ ! -s "$1" ]; then printf '%s\n' "$2" > "$1"; echo "wrote secrets/$1"; fi
}

keep_or_write django_secret_key "$(random 48)"
keep_or_write postgres_password "$(random 24)"
keep_or_write redis_password "$(random 24)"
keep_or_write s3_access_key_id "readingroom-$(random 6)"
keep_or_write s3_secret_access_key "$(random 32)"
# The URLs embed the passwords above; they are secrets too.
keep_or_write database_url "postgres://readingroom:$(cat postgres_password)@postgres:5432/readingroom"
keep_or_write redis_url "redis://:$(cat redis_password)@redis:6379/0"

if [ ! -s tls_key.pem ] || [ ! -s tls_cert.pem ]; then
    openssl req -x509 -newkey rsa:3072 -sha256 -days 90 -nodes \
        -keyout tls_key.pem -out tls_cert.pem -subj "/CN=${host}" \
        -addext "subjectAltName=DNS:${host}" 2>/dev/null
    echo "wrote secrets/tls_cert.pem and secrets/tls_key.pem (self-signed for ${host}, 90 days)"
fi
# Containers run as uid 10001 (app) and the images' own users; compose mounts file secrets read-only
# with these permissions, so make them readable there.
chmod 0444 ./*
