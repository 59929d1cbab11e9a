"""`python -m benchmarks.quality`: print the quality tables (`--full`: more seeds)."""

from benchmarks.quality import main

# Guarded: the seeds' spawned processes import this module again as `__mp_main__`.
if __name__ == "__main__":
    main()
