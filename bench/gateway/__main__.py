"""`python -m bench.gateway`: the whole benchmark, with the defaults of settings.py."""

from bench.gateway.run import main

if __name__ == "__main__":
    main()
