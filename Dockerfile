# One image for every process of the Procfile; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN useradd --create-home billing && chown -R billing /app
USER billing
ENV FLASK_APP=wsgi:subscription_app
CMD ["gunicorn", "-c", "gunicorn.conf.py", "--bind", "0.0.0.0:8001", "wsgi:subscription_app"]
