"""The kind of answer a request asks for travels in one header, named here.

A prompt template declares its kind (`asyncgen.prompts`); the transport sends it with the
request and the simulator answers in that format. The name sits in this module of its
own, at the bottom of the import graph, so the transport need not load the prompt
templates (a `complete` run uses none: ~3 ms of reading and parsing before its first
request) and the simulator need not load the transport.
"""

KIND_HEADER = "X-Asyncgen-Kind"
