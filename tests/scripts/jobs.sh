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
kill $k
wait $k
echo "killed status $?"
for i in 1 2 3; do (exit $i) & done
wait
echo "all waited"
(exit 3) &
wait $!
echo "background status $?"
trap 'echo exiting' EXIT
exit 4
