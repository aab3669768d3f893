"""The threat list: what someone on the chargers' network or beside the server may try, and
the test that shows it does not work. Each module is one threat; each test drives the real
server over real sockets (websockets on loopback, HTTP, a SQLite file) as an attacker would.

- `test_command_channel`: reaching the HTTP ports to reset, unlock or remote-start a charger,
  or to read the fleet (the admin channel's token, the read-only status API, loopback).
- `test_charger_lockout`: wrong passwords for a charger's identity, to guess it or to lock the
  real charger out (refusals slowed by source and identity; a right password admitted at once).
- `test_handshake_identities`: made-up identities and URLs at the handshake (length, NUL,
  `../x`, newlines, another location's URL).
- `test_unknown_chargers`: made-up chargers where a location admits unknown ones (the pending
  cap; their transactions not billed to the fleet).
- `test_frame_size`: huge frames, to make the server buffer without limit.
- `test_declared_identities`: a fleet change that declares an identity OCPP does not allow.
"""
