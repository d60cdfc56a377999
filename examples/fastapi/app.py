"""A FastAPI app served by uvicorn workers under pinit.

pinit binds the port once per worker (SO_REUSEPORT) and hands each worker its
socket as fd 3; `uvicorn app:app --fd 3` serves on it. Nothing in the app knows
about pinit: WORKER_ID is only shown to make the pool visible.
"""

import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello():
    return {"worker_id": os.environ.get("WORKER_ID", ""), "pid": os.getpid()}
