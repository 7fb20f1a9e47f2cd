.PHONY: demo test package bench

# PG picks the PostgreSQL major(s): 15, 16, 17, 18. Unset: test and package
# run on every supported major, demo and bench on 15.
PG ?=

# Build, install, load sample data and write real export files under exports/.
demo:
	PG='$(PG)' bash scripts/demo.sh

# Every test on every major (or PG=17): fmt, clippy, Rust unit tests,
# #[pg_test]s, the package, and the SQL-level suite in tests/.
test:
	PG='$(PG)' bash scripts/test.sh

# Per major, in dist/: an archive of the extension (.so, control file, install
# and update scripts, install.sh, export-system-confd) with its SHA-256, and a
# .deb in the PostgreSQL packages' layout.
package:
	PG='$(PG)' bash scripts/package.sh

# Throughput, memory and concurrency benchmark (not part of the tests): figures
# printed and saved in bench/results/.
bench:
	PG='$(PG)' bash scripts/bench.sh
