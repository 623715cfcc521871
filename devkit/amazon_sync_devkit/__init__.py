"""Development kit: the SP-API simulator, a throwaway MariaDB, a sample catalogue, the expected-state oracle
and the local stack shared by the tests, the benchmarks and the demo. Never deployed."""
