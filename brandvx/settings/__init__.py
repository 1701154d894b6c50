"""BrandVX settings, read from the environment. One module per topic; `test` is the test overlay."""

from .base import *  # noqa: F401,F403
from .database import *  # noqa: F401,F403
from .auth import *  # noqa: F401,F403
from .celery import *  # noqa: F401,F403
from .logging import *  # noqa: F401,F403
from .security import *  # noqa: F401,F403
from .integrations import *  # noqa: F401,F403
from .messaging import *  # noqa: F401,F403
from .data_rights import *  # noqa: F401,F403
from .fairness import *  # noqa: F401,F403
