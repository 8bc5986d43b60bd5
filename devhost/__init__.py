"""devhost: runs function_app.py on one machine, with no Azure account, no .NET and no Core Tools."""
