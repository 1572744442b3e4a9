"""Spawns main.py the way the broker does: control pipes at exactly fds 3 (in) and 4 (out)."""

import fcntl
import json
import os
import queue
import subprocess
import sys
import threading

AGENT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(AGENT_DIR, "main.py")
RLIMITS = {"CPU": 10, "AS": 1 << 30, "NPROC": 256, "FSIZE": 16 << 20, "NOFILE": 64, "CORE": 0,
           "STACK": 8 << 20}


def execute(code, execute_id=1, files=(), rlimits=None, repr_limit=1000):
    return {"type": "execute", "id": execute_id, "code": code, "files": list(files),
            "rlimits": RLIMITS if rlimits is None else rlimits, "reprLimit": repr_limit}


def _inheritable(fd):
    try:
        return os.get_inheritable(fd)
    except OSError:  # the listdir's own, already closed, descriptor
        return False


class Finished:
    def __init__(self, returncode, messages, stdout, stderr):
        self.returncode, self.messages = returncode, messages
        self.stdout, self.stderr = stdout, stderr


class AgentProcess:
    def __init__(self, mode, cwd, python=sys.executable, args=()):
        child_in, self._control_in = os.pipe()
        self._control_out, child_out = os.pipe()

        def place_control_fds():
            # Move both ends above 4 first so neither dup2 clobbers the other.
            high_in = fcntl.fcntl(child_in, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(child_out, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)
            os.close(high_in)
            os.close(high_out)
            # Whatever else the test runner inherited stays out: the agent sees exactly 0-4.
            for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
                if fd > 4 and _inheritable(fd):
                    os.close(fd)

        try:
            self.proc = subprocess.Popen(
                [python, "-I", "-B", "-u", MAIN, "--mode", mode, *args], cwd=cwd,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                close_fds=False, preexec_fn=place_control_fds)
        finally:
            os.close(child_in)
            os.close(child_out)
        self._messages = queue.Queue()
        self._pump = threading.Thread(target=self._read_control, daemon=True)
        self._pump.start()

    def _read_control(self):
        with os.fdopen(self._control_out, "rb") as control:
            for line in control:
                self._messages.put(json.loads(line))
        self._messages.put(None)

    def send(self, message):
        os.write(self._control_in, (json.dumps(message) + "\n").encode())

    def send_raw(self, data):
        os.write(self._control_in, data)

    def close_control(self):
        if self._control_in is not None:
            os.close(self._control_in)
            self._control_in = None

    def next_message(self, timeout=10):
        return self._messages.get(timeout=timeout)

    def finish(self, stdin=b"", timeout=10):
        """Close the control input, collect everything, and return a Finished."""
        self.close_control()
        try:
            stdout, stderr = self.proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        self._pump.join(timeout)
        messages = []
        while True:
            message = self._messages.get(timeout=timeout)
            if message is None:
                break
            messages.append(message)
        return Finished(self.proc.returncode, messages, stdout, stderr)


def run_single(cwd, message, stdin=b""):
    agent = AgentProcess("single", cwd)
    agent.send(message)
    return agent.finish(stdin)
