"""Jobs already submitted: status, logs and stop by id, on the Ray cluster an address (or the environment) names.

Ray loads when a function runs (launch.connect), never at import.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from recipe_runner.errors import RunError, user_error
from recipe_runner.launch import DEFAULT_ADDRESS, connect, named_address, stream_logs


def job_status(job_id: str, address: str | None = None) -> str:
    """`JOB_ID  STATUS  message`, as `status` prints it."""
    client = _client(address)
    info = _job_call(client, job_id, client.get_job_info)
    return f"{job_id}  {info.status}" + (f"  {info.message}" if info.message else "")


def job_logs(job_id: str, address: str | None = None, follow: bool = False) -> None:
    """Write the job's logs to stdout; with `follow`, stream them until the job ends."""
    client = _client(address)
    if follow:
        _job_call(client, job_id, client.get_job_info)  # the log stream of an unknown id just ends
        asyncio.run(stream_logs(client, job_id))
    else:
        sys.stdout.write(_job_call(client, job_id, client.get_job_logs))


def stop_job(job_id: str, address: str | None = None) -> bool:
    """Ask Ray to stop the job; False when it was not running."""
    client = _client(address)
    return _job_call(client, job_id, client.stop_job)


def _client(address: str | None):  # -> JobSubmissionClient (ray is imported lazily)
    address, _ = named_address(address) or (DEFAULT_ADDRESS, "default")
    return connect(address if "://" in address else f"http://{address}")


def _job_call(client: Any, job_id: str, call: Callable[[str], Any]) -> Any:
    """One Job API call about `job_id`; an id the cluster does not know is bad input (exit 2), not a traceback."""
    try:
        return call(job_id)
    except RuntimeError as e:  # the SDK raises RuntimeError("Request failed with status code 404: ...")
        if "404" not in str(e):
            raise RunError(f"the Ray Job API at {client.get_address()} failed: {e}") from e
        raise user_error("JOB_ID", f"no job {job_id!r} at {client.get_address()}",
                         hint=f"list the jobs with: ray job list --address {client.get_address()}") from e
