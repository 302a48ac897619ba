"""Builds the native fast path (tallyio.protocols._fastmath); everything else is pyproject.toml."""

from setuptools import Extension, setup

FASTMATH = "src/tallyio/protocols/_fastmath_c"

setup(
    ext_modules=[
        Extension(
            "tallyio.protocols._fastmath",
            sources=[f"{FASTMATH}/module.c"],
            depends=[
                f"{FASTMATH}/u256.h",
                f"{FASTMATH}/v3.h",
                f"{FASTMATH}/aave.h",
                f"{FASTMATH}/balancer.h",
                f"{FASTMATH}/v3_glue.h",
                f"{FASTMATH}/aave_glue.h",
                f"{FASTMATH}/balancer_glue.h",
            ],
            extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wno-missing-field-initializers"],
        )
    ]
)
