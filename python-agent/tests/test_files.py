import base64
import os
import tempfile
import unittest

from pycell_agent.files import FileRefused, check_path, write_files


def entry(path, data=b"data"):
    return {"path": path, "content": base64.b64encode(data).decode()}


class CheckPathTest(unittest.TestCase):
    def test_accepted(self):
        rows = [
            ("a.txt", ["a.txt"]),
            ("x/y/z.txt", ["x", "y", "z.txt"]),
            ("./a//b", ["a", "b"]),
            ("..a/b..", ["..a", "b.."]),
        ]
        for path, parts in rows:
            with self.subTest(path=path):
                self.assertEqual(check_path(path), parts)

    def test_refused(self):
        rows = [
            ("../x", "files: '../x': '..' component"),
            ("/etc/x", "files: '/etc/x': absolute path"),
            ("a/../../x", "files: 'a/../../x': '..' component"),
            ("a/..", "files: 'a/..': '..' component"),
            ("a\0b", "files: 'a\\x00b': NUL byte in path"),
            ("", "files: '': not a file path"),
            ("dir/", "files: 'dir/': not a file path"),
            (".", "files: '.': not a file path"),
        ]
        for path, text in rows:
            with self.subTest(path=path):
                with self.assertRaises(FileRefused) as caught:
                    check_path(path)
                self.assertEqual(str(caught.exception), text)


class WriteFilesTest(unittest.TestCase):
    def setUp(self):
        self.root = self.make_dir()
        self.outside = self.make_dir()

    def make_dir(self):
        handle = tempfile.TemporaryDirectory()
        self.addCleanup(handle.cleanup)
        return handle.name

    def read(self, *parts):
        with open(os.path.join(*parts), "rb") as f:
            return f.read()

    def refused(self, entries):
        with self.assertRaises(FileRefused) as caught:
            write_files(entries, self.root)
        return str(caught.exception)

    def test_good_and_nested_paths(self):
        write_files([entry("a.txt", b"one"), entry("x/y/z.bin", b"\x00\xff"), entry("x/w.txt", b"")], self.root)
        self.assertEqual(self.read(self.root, "a.txt"), b"one")
        self.assertEqual(self.read(self.root, "x", "y", "z.bin"), b"\x00\xff")
        self.assertEqual(self.read(self.root, "x", "w.txt"), b"")

    def test_existing_file_is_replaced(self):
        write_files([entry("a.txt", b"a long first version")], self.root)
        write_files([entry("a.txt", b"short")], self.root)
        self.assertEqual(self.read(self.root, "a.txt"), b"short")

    def test_symlinked_directory_is_refused(self):
        os.symlink(self.outside, os.path.join(self.root, "link"))
        self.assertEqual(self.refused([entry("link/x.txt")]), "files: 'link/x.txt': 'link' is a symlink")
        self.assertEqual(os.listdir(self.outside), [])

    def test_symlinked_file_is_refused(self):
        target = os.path.join(self.outside, "target")
        with open(target, "wb") as f:
            f.write(b"precious")
        os.symlink(target, os.path.join(self.root, "leaf"))
        self.assertEqual(self.refused([entry("leaf")]), "files: 'leaf': 'leaf' is a symlink")
        self.assertEqual(self.read(target), b"precious")

    def test_file_where_a_directory_is_needed(self):
        write_files([entry("f")], self.root)
        self.assertEqual(self.refused([entry("f/x")]), "files: 'f/x': 'f' is not a directory")

    def test_fifo_is_refused_without_blocking(self):
        os.mkfifo(os.path.join(self.root, "pipe"))
        self.assertEqual(self.refused([entry("pipe")]), "files: 'pipe': pipe: No such device or address")

    def test_nothing_is_written_when_any_entry_is_bad(self):
        rows = [
            ([entry("ok.txt"), entry("../x")], "files: '../x': '..' component"),
            ([entry("ok.txt"), {"path": "b.txt", "content": "not base64!"}], "files: 'b.txt': content is not valid base64"),
        ]
        for entries, text in rows:
            with self.subTest(text=text):
                self.assertEqual(self.refused(entries), text)
                self.assertEqual(os.listdir(self.root), [])


if __name__ == "__main__":
    unittest.main()
