# One image for every Edgewatch process: `docker run IMAGE ingest|api|alerts|migrate|simulate|up`.
#
# The repository is copied to /app and installed in editable mode: the migrations are read from
# REPO_ROOT/migrations, REPO_ROOT being the folder above the `edgewatch` package, so the image
# keeps the repository's layout instead of moving the packages into site-packages.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/edgewatch \
    PATH=/opt/edgewatch/bin:$PATH

RUN python -m venv /opt/edgewatch

# Dependencies first, read from pyproject.toml alone, so that a code change reuses this layer.
COPY pyproject.toml /app/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/app/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . /app
# The smoke checks fail the build, not the first start, when a module does not import or the
# migrations or the graph page (web/) are not where the code looks for them.
RUN pip install --no-deps --editable /app \
    && edgewatch --help > /dev/null \
    && python -c "from edgewatch.migrate import load_migrations; assert load_migrations()" \
    && python -c "from api.routes.ui import WEB_ROOT; assert (WEB_ROOT / 'index.html').is_file()"

# Not root. The home folder is the working directory, so the embedded engine of `edgewatch up`
# (chdb://.edgewatch/clickhouse, relative) has somewhere to write; mount a volume there to keep it.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/edgewatch --shell /usr/sbin/nologin edgewatch
USER edgewatch
WORKDIR /var/lib/edgewatch

EXPOSE 8080
ENTRYPOINT ["edgewatch"]
CMD ["up", "--host", "0.0.0.0"]
