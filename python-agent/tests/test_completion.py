"""Completion tables: (code, cursor) → (matches, cursorStart, cursorEnd) against a fixed namespace."""

import builtins
import json
import keyword
import os
import sys
import unittest

from pycell_agent.completion import MAX_MATCHES, complete, token_start


class Shy:
    """An object whose attribute lookups run (and fail in) user code."""

    visible = 1
    _hidden = 2

    def __getattr__(self, name):
        raise RuntimeError("no " + name)

    @property
    def broken(self):
        raise ValueError("property failed")


class Lying:
    def __dir__(self):
        raise RuntimeError("no dir for you")


class Many:
    def __dir__(self):
        return ["m%04d" % i for i in range(MAX_MATCHES + 500)] + ["m" + "x" * 1000, "m" + "y" * 999]


def namespace():
    ns = {"__name__": "__main__", "__builtins__": builtins, "alpha": 1, "alphabet": 2, "_private": 3,
          "shy": Shy(), "lying": Lying(), "many": Many(), "os": os, "json": json, "données": {}, 5: "int key"}
    ns["chain"] = type("Chain", (), {"inner": type("Inner", (), {"leaf_a": 1, "leaf_b": 2})})
    return ns


def run(code, cursor=None):
    return complete(code, len(code) if cursor is None else cursor, namespace())


class CompletionTest(unittest.TestCase):
    def test_plain_names(self):
        rows = [
            ("alp", (["alpha", "alphabet"], 0, 3)),
            ("x = alp", (["alpha", "alphabet"], 4, 7)),
            ("pr", (["print", "property"], 0, 2)),
            ("whi", (["while"], 0, 3)),
            ("mat", (["match"], 0, 3)),  # soft keywords count
            ("_pr", (["_private"], 0, 3)),  # "_" typed: private names offered
            ("don", (["données"], 0, 3)),  # Unicode identifiers
            ("f(alpha", (["alpha", "alphabet"], 2, 7)),
            ("zzz", ([], 0, 3)),
        ]
        for code, expected in rows:
            with self.subTest(code=code):
                self.assertEqual(run(code), expected)

    def test_empty_prefix_hides_private_names(self):
        matches, start, end = run("")
        self.assertEqual((start, end), (0, 0))
        self.assertIn("alpha", matches)
        self.assertIn("if", matches)
        self.assertIn("len", matches)
        self.assertFalse([m for m in matches if m.startswith("_")])
        self.assertEqual(matches, sorted(set(matches)))
        self.assertTrue(set(keyword.kwlist) <= set(matches))
        self.assertIn("__name__", run("__na")[0])

    def test_attributes(self):
        rows = [
            ("os.pa", (["pardir", "path", "pathconf", "pathconf_names", "pathsep"], 3, 5)),
            ("os.path.jo", (["join"], 8, 10)),
            ("json.lo", (["load", "loads"], 5, 7)),
            ("chain.inner.", (["leaf_a", "leaf_b"], 12, 12)),
            ("chain.inner.leaf_", (["leaf_a", "leaf_b"], 12, 17)),
            ("len.__na", (["__name__"], 4, 8)),  # builtins resolve too
            ("shy.vis", (["visible"], 4, 7)),
            ("shy._h", (["_hidden"], 4, 6)),
            ("shy.br", (["broken"], 4, 6)),  # listed by dir, never evaluated
            ("print(os.pa", (["pardir", "path", "pathconf", "pathconf_names", "pathsep"], 9, 11)),
            ("alpha.bit_len", (["bit_length"], 6, 13)),
        ]
        for code, expected in rows:
            with self.subTest(code=code):
                self.assertEqual(run(code), expected)

    def test_user_code_that_raises_gives_nothing(self):
        rows = [
            ("shy.missing.", ([], 12, 12)),  # __getattr__ raises
            ("shy.broken.re", ([], 11, 13)),  # property raises
            ("lying.x", ([], 6, 7)),  # __dir__ raises
            ("nowhere.x", ([], 8, 9)),
            ("f().x", ([], 4, 5)),  # calls are never made
            ("d['k'].x", ([], 7, 8)),  # nor subscripts
            ("1.5", ([], 2, 3)),
            ("alpha..x", ([], 7, 8)),
        ]
        for code, expected in rows:
            with self.subTest(code=code):
                self.assertEqual(run(code), expected)

    def test_cap_and_long_names(self):
        matches, start, end = run("many.m")
        self.assertEqual((len(matches), matches[0], matches[-1], start, end), (MAX_MATCHES, "m0000", "m0999", 5, 6))
        self.assertEqual(run("many.mx"), ([], 5, 7))  # 1001 characters: dropped
        self.assertEqual(run("many.my"), (["m" + "y" * 999], 5, 7))  # 1000: kept

    def test_modules(self):
        rows = [
            ("import sy", "sys", 7),
            ("import os, sy", "sys", 11),
            ("import os as o, sy", "sys", 16),
            ("from sy", "sys", 5),
            ("  import jso", "json", 9),
            ("x = 1; import jso", "json", 14),
            ("import json.de", "decoder", 12),
            ("from json.de", "decoder", 10),
        ]
        for code, expected, start in rows:
            with self.subTest(code=code):
                matches, cursor_start, cursor_end = run(code)
                self.assertIn(expected, matches)
                self.assertEqual((cursor_start, cursor_end), (start, len(code)))
        self.assertIn("unittest", run("import unitt")[0])  # found by pkgutil, not imported
        self.assertNotIn("_io", run("import ")[0])
        self.assertIn("_io", run("import _i")[0])

    def test_submodules_only_of_imported_packages(self):
        self.assertNotIn("pycell_never_imported", sys.modules)
        self.assertEqual(run("import pycell_never_imported.x"), ([], 29, 30))
        self.assertEqual(run("import os.pa"), ([], 10, 12))  # os is a module, not a package

    def test_from_import(self):
        rows = [
            ("from json import lo", (["load", "loads"], 17, 19)),
            ("from json import dump, lo", (["load", "loads"], 23, 25)),
            ("from json import (dump as d, lo", (["load", "loads"], 29, 31)),
            ("from pycell_never_imported import x", ([], 34, 35)),
            ("from json import lo.x", ([], 20, 21)),
        ]
        for code, expected in rows:
            with self.subTest(code=code):
                self.assertEqual(run(code), expected)

    def test_cursor_inside_the_code(self):
        self.assertEqual(run("alp + 1", cursor=3), (["alpha", "alphabet"], 0, 3))
        self.assertEqual(run("os.pa\nalp", cursor=5), (["pardir", "path", "pathconf", "pathconf_names", "pathsep"], 3, 5))

    def test_token_start(self):
        rows = [("abc", 3, 0), ("a.b.c", 5, 0), ("x + y.z", 7, 4), ("(é.ç", 4, 1), ("a b", 2, 2)]
        for code, cursor, start in rows:
            with self.subTest(code=code):
                self.assertEqual(token_start(code, cursor), start)


if __name__ == "__main__":
    unittest.main()
