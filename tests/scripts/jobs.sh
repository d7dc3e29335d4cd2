# trap, background jobs, wait, kill, exit statuses.
trap 'echo got USR1' USR1
kill -USR1 $$
echo "after the trap"
sleep 0.2 &
p=$!
wait $p
echo "waited $?"
sleep 5 &
k=$!
# Whether sh reports "Terminated" for the killed job depends on timing (on
# Linux too): that report goes nowhere.
{ kill $k; wait $k; } 2>/dev/null
echo "killed status $?"
for i in 1 2 3; do (exit $i) & done
wait
echo "all waited"
(exit 3) &
wait $!
echo "background status $?"
trap 'echo exiting' EXIT
exit 4
