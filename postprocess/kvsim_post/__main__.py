import sys


def run():
    """The `kvsim-post` console script and `python -m kvsim_post`."""
    try:
        from .cli import main
    except ModuleNotFoundError as err:
        print(f"kvsim-post: error: {sys.executable} lacks the '{err.name}' module "
              f"(install python3-{err.name}, or set KVSIM_PYTHON to a Python that has it)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())


if __name__ == "__main__":
    run()
