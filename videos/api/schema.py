"""OpenAPI tweaks: document each route once (its trailing-slash form), though both forms answer."""


def drop_slashless_twins(endpoints, **kwargs):  # noqa: ANN001, ANN003, ANN201 - drf-spectacular hook
    with_slash = {path for path, *_ in endpoints if path.endswith("/")}
    return [e for e in endpoints if e[0].endswith("/") or f"{e[0]}/" not in with_slash]
