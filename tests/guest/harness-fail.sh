#!/bin/bash
# Harness self-test (tests/harness.sh expects this scenario to be judged failed):
# one failing check and a kernel WARNING line in the log.
. /tests/lib.sh
pass "a check that passes"
fail "a check that fails" "on purpose"
echo "WARNING: CPU: 0 PID: 1 at harness self-test" >/dev/kmsg
