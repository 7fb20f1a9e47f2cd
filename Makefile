.PHONY: demo test bench

# Build, install, load sample data and write real export files under exports/.
demo:
	bash scripts/demo.sh

# Every test: Rust unit tests, #[pg_test]s, and the SQL-level suite in tests/.
test:
	bash scripts/test.sh

# Throughput, memory and concurrency benchmark (not part of the tests): figures
# printed and saved in bench/results/.
bench:
	bash scripts/bench.sh
