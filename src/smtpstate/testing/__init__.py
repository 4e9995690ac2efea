"""Tools for testing SMTP applications and servers with smtpstate.

Installed with the package; the modules below import pytest and hypothesis,
which come with the ``testing`` extra (``pip install "smtpstate[testing]"``).
The engine (``smtpstate`` itself) imports none of this.

- ``smtpstate.testing.strategies``: hypothesis strategies for commands, paths,
  bodies, cuts of a byte string and whole client sessions.
- ``smtpstate.testing.client``: an in-memory client that drives a
  ``ServerConnection`` and an application, and the transcript it records.
- ``smtpstate.testing.transcript``: the ``C:``/``S:`` transcript format, run
  in-process or against any server over TCP.
- ``smtpstate.testing.stateful``: a base for hypothesis state machines that test
  an application's policy.
- ``smtpstate.testing.sink``: the ``smtp_sink`` server, and the pytest plugin that
  provides it as a fixture.
- ``smtpstate.testing.conformance``: a conformance suite for any SMTP server
  (``python -m smtpstate.testing.conformance --host H --port P``).
"""
