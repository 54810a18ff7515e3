"""Which backend serves each STATE_URL scheme, from the schemes each backend class names."""

from urllib.parse import urlsplit

# scheme -> backend class, in the order the backends are defined
BACKENDS = {}


def register(backend):
    """Serve each of `backend.SCHEMES` with `backend`."""
    for scheme in backend.SCHEMES:
        BACKENDS[scheme] = backend


def backend_for(url):
    """The backend class for `url`'s scheme, or None."""
    return BACKENDS.get(urlsplit(url).scheme)


def forms(default_url):
    """Every backend's URL form, once each: the default's first, then in the order defined."""
    backends = sorted(
        dict.fromkeys(BACKENDS.values()), key=lambda b: b is not backend_for(default_url)
    )
    return [backend.FORM for backend in backends]
