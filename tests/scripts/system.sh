# What depends on the machine: the test checks this output's shape and
# values, not against the host's.
sleep 3 &
sleep 0.5
ps
echo "---"
free
echo "---"
uptime
echo "---"
date +%Y
echo "---"
cat /proc/uptime
head -n 1 /proc/meminfo
grep -c processor /proc/cpuinfo
readlink /proc/self/exe
cut -d' ' -f2,3 /proc/self/stat
kill %1 2>/dev/null || kill $!
wait
echo "---"
# Two spinners for 11 s: at least two five-second samples of the load.
while :; do :; done &
s1=$!
while :; do :; done &
s2=$!
sleep 11
cat /proc/loadavg
uptime
kill $s1 $s2
wait
