"""Jupyter peer for pycell's bench: a real ipykernel driven by jupyter_client, timed from the client.

Started once by bench/peers/jupyter.ts. Starts a kernel, warms it up and prints {"ready": ...}; then
for each JSON line on stdin answers one JSON line on stdout:
  {"code": ...}     runs it; the time is a full round trip: execute_request sent, every iopub output
                    received up to the idle status, and the execute_reply (execute_interactive)
  {"op": "memory"}  the kernel process's VmRSS, VmHWM and Pss, in MB
On end of input it shuts the kernel down. Stdlib and jupyter_client only.
"""
import json
import re
import sys
import time

from jupyter_client.manager import KernelManager


def answer(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run(client, code):
    stdout, value = [], [None]

    def hook(msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout.append(content["text"])
        elif kind == "execute_result":
            value[0] = content["data"].get("text/plain")

    start = time.perf_counter()
    reply = client.execute_interactive(code, output_hook=hook, timeout=60)
    ms = (time.perf_counter() - start) * 1000
    text = "".join(stdout)
    status = reply["content"]["status"]
    return {"ms": ms, "status": status, "stdoutLength": len(text), "stdoutHead": text[:64], "value": value[0]}


def memory(pid):
    def mb(path, field):
        try:
            with open(path) as f:
                match = re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M)
        except OSError:
            return 0
        return int(match.group(1)) / 1024 if match else 0

    status = "/proc/%d/status" % pid
    return {"rssMb": mb(status, "VmRSS"), "hwmMb": mb(status, "VmHWM"), "pssMb": mb("/proc/%d/smaps_rollup" % pid, "Pss")}


def main():
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=60)
        for _ in range(20):
            run(client, "pass")
        pid = manager.provisioner.pid
        answer({"ready": True, "kernelPid": pid})
        for line in sys.stdin:
            request = json.loads(line)
            answer(memory(pid) if request.get("op") == "memory" else run(client, request["code"]))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
