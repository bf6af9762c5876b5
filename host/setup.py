"""Build of the optional C reader (pixelwarden/_native.c); everything else is in pyproject.toml.

It compiles against the libxml2 headers that lxml ships, and finds libxml2 itself in lxml's
module at run time. Without a C compiler the extension is skipped (optional=True) and the engine
reads HTML through lxml alone: the same results, only slower on large messages.
"""

from setuptools import Extension, setup


def _extensions() -> list[Extension]:
    try:
        import lxml
    except ImportError:  # lxml is a build requirement; without it there is nothing to build against
        return []
    return [
        Extension(
            "pixelwarden._native",
            sources=["pixelwarden/_native.c"],
            include_dirs=lxml.get_include(),
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]


setup(ext_modules=_extensions())
