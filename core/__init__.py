"""Code shared by both services: settings, extensions, errors, security, health, CLI."""
