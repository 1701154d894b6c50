"""Provider importers: the framework (base) and one module per provider."""

from integrations.importers.base import *  # noqa: F403
