"""The harness that tests/ and bench/ share: real server processes, a real redis-server, and a
fake Vonage Voice API over HTTPS, all on 127.0.0.1."""
