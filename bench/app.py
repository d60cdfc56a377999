"""The FastAPI app of bench/pool.sh, the same under pinit, Gunicorn and uvicorn --workers.

GET /     a small JSON document (the throughput route)
GET /pid  {"pid": the worker's pid}, so that a client can tell which worker answered

BENCH_IMPORT_SLEEP=S (default 0, off) sleeps S seconds at import, before the app exists: a
worker that is slow to start, as a large app is (bench/steer.sh, the crash rows).
"""

import os
import time

from fastapi import FastAPI

time.sleep(float(os.environ.get("BENCH_IMPORT_SLEEP") or 0))

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "hello", "ok": True}


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}
