import resource
import unittest

from pycell_agent.limits import apply_rlimits, plan


class PlanTest(unittest.TestCase):
    def test_rows(self):
        rows = [
            ({}, []),
            ({"CPU": 5, "AS": 100}, [(resource.RLIMIT_AS, (100, 100)), (resource.RLIMIT_CPU, (5, 5))]),
            ({"CORE": 0, "NOFILE": 64}, [(resource.RLIMIT_CORE, (0, 0)), (resource.RLIMIT_NOFILE, (64, 64))]),
        ]
        for rlimits, expected in rows:
            with self.subTest(rlimits=rlimits):
                self.assertEqual(plan(rlimits), expected)

    def test_refused(self):
        rows = [
            ({"FOO": 1}, "rlimits.FOO: unknown resource limit"),
            ({"cpu": 1}, "rlimits.cpu: unknown resource limit"),
            ({"CPU": -1}, "rlimits.CPU: expected a non-negative integer, got -1"),
            ({"CPU": True}, "rlimits.CPU: expected a non-negative integer, got True"),
            ({"CPU": 1, "NPROC": "2"}, "rlimits.NPROC: expected a non-negative integer, got '2'"),
        ]
        for rlimits, text in rows:
            with self.subTest(rlimits=rlimits):
                with self.assertRaises(ValueError) as caught:
                    plan(rlimits)
                self.assertEqual(str(caught.exception), text)


class ApplyTest(unittest.TestCase):
    def test_soft_equals_hard(self):
        calls = []
        apply_rlimits({"STACK": 8, "CPU": 2}, setrlimit=lambda *args: calls.append(args))
        self.assertEqual(calls, [(resource.RLIMIT_CPU, (2, 2)), (resource.RLIMIT_STACK, (8, 8))])

    def test_bad_entry_lowers_nothing(self):
        calls = []
        with self.assertRaises(ValueError):
            apply_rlimits({"AS": 1, "ZZZ": 1}, setrlimit=lambda *args: calls.append(args))
        self.assertEqual(calls, [])

    def test_real_setrlimit(self):
        apply_rlimits({"CORE": 0})  # harmless for the test process: no core dumps
        self.assertEqual(resource.getrlimit(resource.RLIMIT_CORE), (0, 0))


if __name__ == "__main__":
    unittest.main()
