"""Quickstart: remote functions, futures, dependencies and errors on an embedded cluster."""

import pymesos_rt as rt


@rt.remote
def square(x: int) -> int:
    return x * x


@rt.remote
def add(a: int, b: int) -> int:
    return a + b


@rt.remote
def fails() -> None:
    raise ValueError("this task fails on purpose")


def main() -> None:
    info = rt.init()
    print(f"cluster: {info.resources} (dashboard {info.dashboard_url})")

    squares = rt.get([square.remote(i) for i in range(10)])
    print("squares:", squares)

    total = add.remote(square.remote(3), square.remote(4))  # refs as arguments
    print("3*3 + 4*4 =", rt.get(total))

    try:
        rt.get(fails.remote())
    except ValueError as err:  # a TaskError that is also the original ValueError
        print("caught:", type(err).__name__, "-", str(err).splitlines()[0])

    rt.shutdown()


if __name__ == "__main__":
    main()
