# Pipes, redirections, $(...), loops, functions, statuses and subshells.
echo hello
echo hi | cat
x=$(echo a b c | wc -w)
echo "words: $x"
for i in 1 2 3; do echo "i=$i"; done
n=0
while [ $n -lt 3 ]; do n=$((n + 1)); done
echo "n=$n"
f() { echo "f got $1"; return 3; }
f one
echo "status $?"
true && echo and-ok
false || echo or-ok
d=/tmp/basics.$$
mkdir $d
echo one > $d/t1
echo two >> $d/t1
cat $d/t1
wc -l < $d/t1
cat $d/t1 | sort -r | head -n 1
rm $d/t1
rmdir $d
( exit 5 )
echo "subshell $?"
sh -c 'exit 7'
echo "child $?"
echo done
