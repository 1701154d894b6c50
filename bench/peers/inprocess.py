"""In-process latency of one server's client list (`python -m bench.peers.inprocess`), under
whatever DJANGO_SETTINGS_MODULE it is started with: this project's or a peer's.

A process per server, so that every server is timed the same way (Django's test client, no
network) while its settings stay its own. Reads one JSON request per line
({"path", "headers", "n"}), answers {"ms": [...], "status", "rows"} per line."""

import json
import sys
import time

import django


def main() -> None:
    django.setup()
    from django.test import Client

    client = Client()
    for line in sys.stdin:
        ask = json.loads(line)
        headers = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in ask["headers"].items()}
        times, response = [], None
        for _ in range(ask["n"]):
            started = time.perf_counter()
            response = client.get(ask["path"], **headers)
            times.append((time.perf_counter() - started) * 1000)
        if response is None:
            raise ValueError("n must be at least 1")
        rows = results = None
        if response.status_code == 200:
            results = json.loads(response.content)["results"]
            rows = len(results)
        sys.stdout.write(
            json.dumps(
                {
                    "ms": times,
                    "status": response.status_code,
                    "rows": rows,
                    "results": results if ask.get("results") else None,
                    "body": "" if response.status_code == 200 else response.content[:300].decode(),
                }
            )
            + "\n"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
