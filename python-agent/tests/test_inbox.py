"""fd 3 shared by the loop and input() waits, over a real pipe; SIGINT never tears a line."""

import os
import signal
import threading
import unittest

from pycell_agent import wire
from pycell_agent.inbox import Inbox, make_ask
from pycell_agent.interrupts import InterruptGate


def reply(seq, value, execute_id=1):
    return b'{"type":"input_reply","id":%d,"seq":%d,"value":%s}\n' % (
        execute_id, seq, b"null" if value is None else b'"%s"' % value.encode())


class InboxTest(unittest.TestCase):
    def setUp(self):
        read_fd, self.write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        self.inbox = Inbox(wire.fd_reader(read_fd), fd=read_fd)
        self.gate = InterruptGate()
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        self.gate.install()

    def write(self, data):
        os.write(self.write_fd, data)

    def close_writer(self):
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def tearDown(self):
        self.close_writer()

    def test_stale_replies_are_ignored_and_other_messages_kept(self):
        self.write(reply(1, "old", execute_id=0) + reply(9, "future") + b'{"type":"complete","id":5}\n'
                   + reply(2, "yes") + b'{"type":"execute","id":6}\n')
        self.assertEqual(self.inbox.wait_for_reply(1, 2, self.gate), "yes")
        self.assertEqual(self.inbox.next(), {"type": "complete", "id": 5})  # kept for the loop, in order
        self.assertEqual(self.inbox.next(), {"type": "execute", "id": 6})

    def test_null_and_eof_are_none(self):
        self.write(reply(1, None))
        self.assertIsNone(self.inbox.wait_for_reply(1, 1, self.gate))
        self.close_writer()
        self.assertIsNone(self.inbox.wait_for_reply(1, 2, self.gate))
        self.assertIsNone(self.inbox.next())

    def test_bad_reply_is_a_protocol_error(self):
        self.write(b'{"type":"input_reply","id":1,"seq":1,"value":5}\n')
        with self.assertRaisesRegex(wire.ProtocolError, r"^input_reply\.value: expected a string or null, got 5$"):
            self.inbox.wait_for_reply(1, 1, self.gate)

    def test_sigint_while_waiting_consumes_nothing(self):
        self.write(b'{"type":"input_reply","id":1,')  # half a line: the rest comes later
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        self.addCleanup(timer.cancel)
        with self.gate:
            self.assertRaises(KeyboardInterrupt, self.inbox.wait_for_reply, 1, 1, self.gate)
        self.write(b'"seq":1,"value":"whole"}\n')
        self.assertEqual(self.inbox.wait_for_reply(1, 1, self.gate), "whole")

    def test_ask_sends_then_waits(self):
        sent, broken = [], []
        ask = make_ask(self.inbox, sent.append, self.gate, broken.append)
        self.write(reply(3, "Ada", execute_id=7))
        self.assertEqual(ask(7, 3, "Name? ", False), "Ada")
        self.assertEqual(sent, [{"type": "input", "id": 7, "seq": 3, "prompt": "Name? ", "password": False}])
        self.write(b"not json\n")
        self.assertRaises(wire.ProtocolError, ask, 7, 4, "", True)
        self.assertEqual([str(exc) for exc in broken], ["control line is not JSON: Expecting value: line 1 column 1 (char 0)"])


class ShieldTest(unittest.TestCase):
    def setUp(self):
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))

    def test_sigint_is_deferred_to_the_end_of_the_shield(self):
        gate, done = InterruptGate(), []
        with gate:
            with self.assertRaises(KeyboardInterrupt):
                with gate.shielded():
                    os.kill(os.getpid(), signal.SIGINT)
                    done.append("message written")
            self.assertTrue(gate.open)
        self.assertEqual(done, ["message written"])

    def test_outside_a_run_the_shield_drops_nothing_and_raises_nothing(self):
        gate = InterruptGate()
        gate.install()
        with gate.shielded():
            os.kill(os.getpid(), signal.SIGINT)
        with gate:
            pass  # a SIGINT from before the run is not delivered into it
        self.assertFalse(gate.deferred)


if __name__ == "__main__":
    unittest.main()
