"""`publish init`: propose a release manifest from a folder of GGUFs (`proposal`) and write it
as commented TOML (`writer`). A feature package: nothing below it imports it."""
