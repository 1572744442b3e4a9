"""pycell's in-sandbox agent: runs one snippet (or a session of them) and reports on fds 3/4.

The contract is protocol/agent.md; dispatch.main is the entry point.
"""
