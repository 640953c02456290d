"""The ceiling for the benchmarks: a bare FastAPI app whose one route does no work."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
def bare() -> dict[str, str]:
    """A small JSON answer through the same threadpool as the real `def` routes."""
    return {"status": "ok"}
