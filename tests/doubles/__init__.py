"""Stand-ins for the remotes that cannot run here, each written from the real source
(cited inside)."""
