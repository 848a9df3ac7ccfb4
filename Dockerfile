# The rayop operator image: the rayop package (`pip install rayop`) on a slim Python, run as a non-root user.
#
#   docker build -t rayop/operator:0.1.0 .          # the chart's default image (helm/rayop/values.yaml)
#   docker build --build-arg EXTRAS=ray -t rayop/operator:0.1.0-ray .   # with Ray, for rayop's autoscaler sidecar
#
# The chart runs `rayop operator` (and `rayop api` for the optional REST API) from it; set the chart's
# `autoscalerImage` to an image built with EXTRAS=ray to run rayop's autoscaler in the Ray head pods.
# On rayop's local node (tests, `make demo`) no image is pulled: the host's virtualenv stands in for it.
FROM python:3.11-slim AS build
ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crds crds
COPY operator operator
COPY autoscaler autoscaler
COPY gcs_ha gcs_ha
COPY serve_rollout serve_rollout
COPY local local
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
ARG EXTRAS=""
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels rayop${EXTRAS:+[$EXTRAS]} && rm -rf /wheels \
    && useradd --uid 1000 --create-home rayop
USER 1000
# Python writes no bytecode at run time (the chart mounts the root filesystem read-only).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8080 8081
ENTRYPOINT ["rayop"]
CMD ["operator"]
