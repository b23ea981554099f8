"""``python -m neon_ext``: run the quick-start demo."""

from .demo import run_demo

if __name__ == "__main__":
    run_demo()
