# Scenario 2 (or 1) on Gunicorn, as a user who cannot change the app. Every setting comes from
# the environment (see README.md, Configuration and Deploy); the key from a mounted file or PEM
# text in VONAGE_PRIVATE_KEY. Nothing secret is built in: see .dockerignore.
#   docker build -t vonage-audio-stream .
#   podman build --format docker -t vonage-audio-stream .   (OCI images drop HEALTHCHECK)
FROM debian:bookworm-slim

# Debian's Python 3.11, the version CI tests, patched by Debian's security updates; python3-venv
# brings pip for the venv. Not pinned: Debian keeps only the current version of a package, so a
# pin would break the build at the next point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric id, so Kubernetes' runAsNonRoot can check it and a host folder can be chowned
# to it. /data holds the conference state (STATE_URL), the only place the app may write.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app \
    && install -d -o app -g app /data \
    && python3 -m venv /opt/venv
VOLUME /data

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1

WORKDIR /app
# Requirements first: a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt

# Only what runs: every top-level module (the scripts, their helpers, gunicorn.conf.py), the
# conference store's package (its Lua scripts too), the control page's templates and static
# files, and the audio files served at /audio/, owned by root. One COPY line per folder.
COPY *.py ./
COPY conference_store/ conference_store/
COPY templates/ templates/
COPY static/ static/
COPY audio/ audio/
# Compiled now, since the app user cannot write __pycache__ here.
RUN python -m compileall -q .

# Listen on every interface, on the PORT the platform gives (9000 when it gives none).
ENV HOST=0.0.0.0 \
    PORT=9000 \
    STATE_URL=sqlite:////data/conference.sqlite3
EXPOSE 9000
USER 10001:10001

# No curl in a slim image: Python asks /healthz (200 when the app and its store answer).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import http.client as h, os, sys; c = h.HTTPConnection('127.0.0.1', int(os.environ.get('PORT') or 9000), timeout=4); c.request('GET', '/healthz'); sys.exit(c.getresponse().status != 200)"]

# Gunicorn through serve.py, which checks WEB_CONCURRENCY before Gunicorn parses it.
# Scenario 1 instead: docker run IMAGE python serve.py scenario-1
CMD ["python", "serve.py", "scenario-2"]
