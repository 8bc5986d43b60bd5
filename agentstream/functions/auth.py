"""The auth level of the routes for the app's callers, fixed from API_AUTH when the app is indexed.

With API_AUTH=function_key the Functions host itself refuses a request to these routes without a
valid function key (`x-functions-key` header or `?code=`), before the app sees it. With `none`
and `entra` they are anonymous at the host: `entra` is checked by the handlers (App Service
authentication in front). Stream and status routes stay anonymous (EventSource cannot send a key)
and check a stream token instead.
"""

from __future__ import annotations

import azure.functions as func

from agentstream.config import read_api_auth

CALLER_AUTH_LEVEL = func.AuthLevel.FUNCTION if read_api_auth() == "function_key" else func.AuthLevel.ANONYMOUS
