"""Settings of the browser tests' server processes: the platform's own, with a
``default-src 'self'`` Content Security Policy on every response when the platform does
not send one itself, so that the pages are tested under the policy production sends."""

from project.settings import *  # noqa: F403

POLICY = "default-src 'self'"


class ContentSecurityPolicy:
    """Adds POLICY to responses that have no policy."""

    def __init__(self, get_response) -> None:  # noqa: ANN001
        self.get_response = get_response

    def __call__(self, request):  # noqa: ANN001, ANN204
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response


if not globals().get("CONTENT_SECURITY_POLICY"):
    MIDDLEWARE = [*MIDDLEWARE, "tests.webui.csp_settings.ContentSecurityPolicy"]  # noqa: F405
