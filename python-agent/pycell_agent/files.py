"""Writing the execute message's files under the working directory, never through a symlink."""

import base64
import binascii
import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a planted FIFO fails (ENXIO) instead of hanging.
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FileRefused(ValueError):
    def __init__(self, path, reason):
        super().__init__("files: %r: %s" % (path, reason))


def check_path(path):
    """The path's components; FileRefused unless it is a plain relative path."""
    if "\0" in path:
        raise FileRefused(path, "NUL byte in path")
    if path.startswith("/"):
        raise FileRefused(path, "absolute path")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise FileRefused(path, "'..' component")
    if not parts or path.endswith("/"):
        raise FileRefused(path, "not a file path")
    return parts


def decode_content(path, content):
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise FileRefused(path, "content is not valid base64") from None


def write_files(entries, root="."):
    """Validate every entry first, then write them in order."""
    checked = [(entry["path"], check_path(entry["path"])) for entry in entries]
    contents = [decode_content(path, entry["content"]) for (path, _), entry in zip(checked, entries)]
    for (path, parts), data in zip(checked, contents):
        write_file(root, path, parts, data)


def write_file(root, path, parts, data):
    dir_fd = os.open(root, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            child = _enter_dir(dir_fd, path, name)
            os.close(dir_fd)
            dir_fd = child
        fd = _open_in(dir_fd, path, parts[-1], _FILE_FLAGS, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileRefused(path, "%r is not a regular file" % parts[-1])
            view = memoryview(data)
            while view:
                view = view[_checked(path, parts[-1], os.write, fd, view):]
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


def _enter_dir(dir_fd, path, name):
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:
        pass  # a directory already, or something _open_in refuses next
    except OSError as exc:
        _refuse(path, name, exc, dir_fd)
    return _open_in(dir_fd, path, name, _DIR_FLAGS)


def _open_in(dir_fd, path, name, flags, mode=0o777):
    try:
        return os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        _refuse(path, name, exc, dir_fd)


def _checked(path, name, call, *args):
    try:
        return call(*args)
    except OSError as exc:  # ENOSPC on the tmpfs, EFBIG past RLIMIT_FSIZE in a session
        _refuse(path, name, exc, None)


def _refuse(path, name, exc, dir_fd):
    # O_NOFOLLOW gives ELOOP on a symlink, or ENOTDIR when combined with O_DIRECTORY.
    if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_symlink(name, dir_fd)):
        raise FileRefused(path, "%r is a symlink" % name) from None
    if exc.errno == errno.ENOTDIR:
        raise FileRefused(path, "%r is not a directory" % name) from None
    raise FileRefused(path, "%s: %s" % (name, os.strerror(exc.errno or 0))) from None


def _is_symlink(name, dir_fd):
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
