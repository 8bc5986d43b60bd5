"""`make bench`: the performance targets of the design, measured against devhost on each event store.

`python -m bench` starts devhost (the real server and function app, plus the instruments in
`bench.app`) once per backend, drives it over loopback HTTP and prints one table of target,
measured value and verdict; the same figures go to `bench/results/` as JSON.
"""
