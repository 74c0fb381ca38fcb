"""The service plus a plain ``GET /hello`` Flask route: the stack's own overhead, for comparison."""

from config.settings import load_settings_or_exit
from service import create_app
from service.asgi import ServiceAsgi

flask_app = create_app(load_settings_or_exit())


@flask_app.get("/hello")
def hello() -> str:
    return "hello"


app = ServiceAsgi(flask_app)
