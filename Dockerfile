# One runtime image for every process of the Procfile; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 billing
WORKDIR /app
# Dependencies first: this layer is rebuilt only when requirements.txt changes, not with the code.
COPY requirements.txt .
RUN pip install -r requirements.txt
# Owned by the runtime user as it is copied: a `chown -R` afterwards would store the tree twice.
COPY --chown=billing:billing . .
USER billing
ENV FLASK_APP=wsgi:app BILLING_SERVICE=subscription PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD python -m scripts.healthcheck http "http://127.0.0.1:${PORT}/v1/health"
CMD ["sh", "-c", "exec gunicorn -c gunicorn.conf.py --bind 0.0.0.0:${PORT} wsgi:app"]
