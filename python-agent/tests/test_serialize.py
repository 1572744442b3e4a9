import json
import unittest

from pycell_agent.serialize import format_error, make_bundle, safe_repr, truncate, type_name


class Html:
    def _repr_html_(self):
        return "<b>hi</b>"

    def __repr__(self):
        return "Html()"


class Markdown:
    def _repr_markdown_(self):
        return "**hi**"

    def __repr__(self):
        return "Markdown()"


class Svg:
    def _repr_svg_(self):
        return "<svg/>"

    def __repr__(self):
        return "Svg()"


class Png:
    def _repr_png_(self):
        return b"\x89PNG\r\n"

    def __repr__(self):
        return "Png()"


class Json:
    def _repr_json_(self):
        return {"a": [1, 2]}

    def __repr__(self):
        return "Json()"


class WithMetadata:
    def _repr_html_(self):
        return "<i>x</i>", {"isolated": True}

    def __repr__(self):
        return "WithMetadata()"


class Bundle:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {
            "text/plain": "not used",
            "text/html": "<p>bundle</p>",
            "image/png": b"\x00\x01",
            "application/vnd.pycell+json": {"k": 1},
            "text/x-bad": 42,
        }

    def _repr_html_(self):
        return "<p>loses to the bundle</p>"

    def __repr__(self):
        return "Bundle()"


class FailingHooks:
    def _repr_html_(self):
        raise RuntimeError("html broke")

    def _repr_markdown_(self):
        return 42  # not a string: skipped

    def _repr_json_(self):
        return {"bad": object()}  # not JSON-able: skipped

    def _repr_svg_(self):
        return "<svg/>"

    def __repr__(self):
        return "FailingHooks()"


class FailingRepr:
    def __repr__(self):
        raise TypeError("no repr for you")


class ReprNotString:
    def __repr__(self):
        return 42


class AnswersEverything:
    def __getattr__(self, name):
        return lambda *args, **kwargs: "<b>surprise</b>"

    def __repr__(self):
        return "AnswersEverything()"


class TruncateTest(unittest.TestCase):
    def test_rows(self):
        rows = [
            ("abc", 5, "abc"),
            ("abc", 3, "abc"),
            ("abcdef", 3, "abc…[truncated 3 chars]"),
            ("ab", 0, "…[truncated 2 chars]"),
            ("", 0, ""),
        ]
        for text, limit, expected in rows:
            with self.subTest(text=text, limit=limit):
                self.assertEqual(truncate(text, limit), expected)

    def test_repr_truncation_exact_text(self):
        self.assertEqual(safe_repr("x" * 20, 10), "'xxxxxxxxx…[truncated 12 chars]")
        self.assertEqual(safe_repr(list(range(100)), 12), "[0, 1, 2, 3,…[truncated 378 chars]")


class BundleTest(unittest.TestCase):
    def test_rows(self):
        rows = [
            (1 + 1, {"text/plain": "2"}),
            ("s", {"text/plain": "'s'"}),
            (Html(), {"text/plain": "Html()", "text/html": "<b>hi</b>"}),
            (Markdown(), {"text/plain": "Markdown()", "text/markdown": "**hi**"}),
            (Svg(), {"text/plain": "Svg()", "image/svg+xml": "<svg/>"}),
            (Png(), {"text/plain": "Png()", "image/png": "iVBORw0K"}),
            (Json(), {"text/plain": "Json()", "application/json": '{"a": [1, 2]}'}),
            (WithMetadata(), {"text/plain": "WithMetadata()", "text/html": "<i>x</i>"}),
            (Bundle(), {"text/plain": "Bundle()", "text/html": "<p>bundle</p>", "image/png": "AAE=",
                        "application/vnd.pycell+json": '{"k": 1}'}),
            (FailingHooks(), {"text/plain": "FailingHooks()", "image/svg+xml": "<svg/>"}),
            (FailingRepr(), {"text/plain": "<repr failed: TypeError: no repr for you>"}),
            (ReprNotString(), {"text/plain": "<repr failed: TypeError: __repr__ returned non-string (type int)>"}),
            (Html, {"text/plain": "<class 'tests.test_serialize.Html'>"}),
            (AnswersEverything(), {"text/plain": "AnswersEverything()"}),
        ]
        for value, expected in rows:
            with self.subTest(value=type(value).__name__):
                self.assertEqual(make_bundle(value, 1000), expected)

    def test_text_plain_comes_first_and_is_truncated(self):
        bundle = make_bundle(Html(), 3)
        self.assertEqual(list(bundle), ["text/plain", "text/html"])
        self.assertEqual(bundle["text/plain"], "Htm…[truncated 3 chars]")


class DangerousStr(Exception):
    def __str__(self):
        raise RuntimeError("str broke")


def raise_(exc):
    raise exc


class FormatErrorTest(unittest.TestCase):
    def caught(self, exc):
        try:
            raise_(exc)
        except BaseException as caught:
            return caught

    def test_type_names(self):
        rows = [
            (ZeroDivisionError(), "ZeroDivisionError"),
            (json.JSONDecodeError("m", "d", 0), "json.decoder.JSONDecodeError"),
            (DangerousStr(), "tests.test_serialize.DangerousStr"),
            (type("Local", (Exception,), {"__module__": "__main__"})(), "Local"),
        ]
        for exc, expected in rows:
            with self.subTest(expected):
                self.assertEqual(type_name(exc), expected)

    def test_record(self):
        error = format_error(self.caught(KeyError("k")), 1000)
        self.assertEqual(error["type"], "KeyError")
        self.assertEqual(error["message"], "'k'")
        self.assertEqual(error["traceback"][0], "Traceback (most recent call last):")
        self.assertEqual(error["traceback"][-1], "KeyError: 'k'")
        self.assertFalse(any(line.endswith("\n") for line in error["traceback"]))

    def test_failing_str(self):
        error = format_error(self.caught(DangerousStr()), 1000)
        self.assertEqual(error["message"], "<exception str() failed>")

    def test_message_and_lines_are_truncated(self):
        error = format_error(self.caught(ValueError("v" * 50)), 20)
        self.assertEqual(error["message"], "v" * 20 + "…[truncated 30 chars]")
        self.assertEqual(error["traceback"][-1], "ValueError: " + "v" * 8 + "…[truncated 42 chars]")

    def test_syntax_error_message_is_the_bare_msg(self):
        try:
            compile("1 +", "<cell>", "exec")
        except SyntaxError as exc:
            error = format_error(exc, 1000)
        self.assertEqual(error["message"], "invalid syntax")
        self.assertIn('  File "<cell>", line 1', error["traceback"])

    def test_chained_exceptions_are_kept(self):
        try:
            try:
                raise_(KeyError("inner"))
            except KeyError as inner:
                raise ValueError("outer") from inner
        except ValueError as exc:
            lines = format_error(exc, 1000)["traceback"]
        self.assertIn("KeyError: 'inner'", lines)
        self.assertIn("The above exception was the direct cause of the following exception:", lines)
        self.assertEqual(lines[-1], "ValueError: outer")


if __name__ == "__main__":
    unittest.main()
