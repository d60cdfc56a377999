"""The FastAPI app of bench/pool.sh, the same under pinit, Gunicorn and uvicorn --workers.

GET /     a small JSON document (the throughput route)
GET /pid  {"pid": the worker's pid}, so that a client can tell which worker answered
"""

import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "hello", "ok": True}


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}
