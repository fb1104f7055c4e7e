# One image for every role; the command picks it: `headway scheduler`, `headway distributor`,
# `headway processor`, `headway api`, `headway dashboard`, `headway db upgrade`.
# Build: docker build -t headway:0.1.0 .

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY simulation ./simulation
COPY dashboard ./dashboard
COPY sql ./sql
# Wheels for Headway and every dependency, so the final stage needs no compiler and no cache.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/headway
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels headway \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/headway headway
USER 10001:10001
WORKDIR /home/headway
# Health endpoints (scheduler, distributor, processor), API, dashboard.
EXPOSE 8081 8000 8501
ENTRYPOINT ["headway"]
CMD ["--help"]
