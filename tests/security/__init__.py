"""The threat list: what someone on the chargers' network or beside the server may try, and
the test that shows it does not work. Each module is one threat; each test drives the real
server over real sockets (websockets on loopback, HTTP, a SQLite file) as an attacker would.
"""
