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
