"""A small FastAPI app that pinit's integration tests run under uvicorn --fd 3.

GET /          {"worker_id": WORKER_ID, "pid": own pid, "listen_pid": LISTEN_PID}
GET /slow?ms=N the same, after an async sleep of N milliseconds
"""

import asyncio
import os

from fastapi import FastAPI

app = FastAPI()


def who():
    return {
        "worker_id": os.environ.get("WORKER_ID", ""),
        "pid": os.getpid(),
        "listen_pid": int(os.environ.get("LISTEN_PID", "0") or 0),
    }


@app.get("/")
async def root():
    return who()


@app.get("/slow")
async def slow(ms: int = 0):
    await asyncio.sleep(ms / 1000)
    return who()
