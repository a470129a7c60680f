#!/bin/bash
# Send one capture run from several hosts over ssh (README: "Running on many hosts").
#
#   DB=postgresql://capture:PASSWORD@db.internal:5432/loadtests \
#     docs/run-on-hosts.sh http://api.internal/ load1 load2 load3
#
# Every host runs the same command; they meet in the PostgreSQL database, wait for each
# other (--barrier-timeout) and start at one instant of the database's clock. Each host
# takes the slot of its place in the list, so a host that fails can be run again alone
# with the same --slot before the others give up. Put the password in ~/.pgpass on the
# hosts instead of the URL if the command lines of the hosts are visible to others.
set -eu

: "${DB:?set DB to a postgresql:// URL every host can reach}"
URL=${1:?usage: DB=postgresql://... $0 URL HOST...}
shift
[ "$#" -gt 0 ] || { echo "usage: DB=postgresql://... $0 URL HOST..." >&2; exit 2; }
NAME=${NAME:-run-$(date +%Y%m%d-%H%M%S)}
HOSTS=$#

slot=0
for host in "$@"; do
  # shellcheck disable=SC2086  # ARGS is meant to split into options
  ssh "$host" capture run "$URL" ${ARGS:--d 5m --qps 40000 -c 64 --procs auto} \
    --db "'$DB'" --name "$NAME" --hosts "$HOSTS" --slot "$slot" \
    > "capture-$NAME-$slot.out" 2>&1 &
  slot=$((slot + 1))
done

status=0
for _ in "$@"; do
  wait -n 2>/dev/null || status=$?   # any host's failure is the run's
done
cat capture-"$NAME"-*.out
capture runs --db "$DB"
exit "$status"
