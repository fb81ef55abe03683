"""`python -m portal.serve`: daphne, as its own command line takes it, with an access log that leaves query
strings out. A webhook's URL carries its token in the query (`/webhooks/<id>?token=…`, Azure's shape), and
daphne's access log writes each request's whole URL: every call would put its webhook's token in the log."""

from daphne import cli
from daphne.access import AccessLogGenerator


class AccessLogWithoutQueries(AccessLogGenerator):
    def __call__(self, protocol, action, details):
        path = details.get("path")
        if isinstance(path, str) and "?" in path:
            details = {**details, "path": path.partition("?")[0] + "?…"}
        super().__call__(protocol, action, details)


def main() -> None:
    # daphne's command line builds its access log from this name when it runs.
    cli.AccessLogGenerator = AccessLogWithoutQueries
    cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
