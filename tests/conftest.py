"""Test-wide set-up: tests talk only to loopback stand-ins, never through a proxy."""

import os

os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_proxy, None)

# Each test session keeps its account locks (core.runtime.instance_lock) to itself: sessions running
# side by side on one machine use the stand-in's same API key.
if "BALLAST_LOCK_DIR" not in os.environ:
    import tempfile

    os.environ["BALLAST_LOCK_DIR"] = tempfile.mkdtemp(prefix="ballast-test-locks-")
