"""The key index of keyed exports: per export, one sidecar object listing every selected
source row as HMAC digests (key, whole row, each column) plus its exported key sealed
under a server-side key, sorted by key digest so two indexes compare by merge-join in
bounded memory. See README "Incremental by key"."""
