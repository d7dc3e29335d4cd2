# The applets the issue names, on files the script makes.
d=/tmp/applets.$$
mkdir -p $d/sub
cd $d
printf '%s\n' pear apple fig apple banana > fruit
printf 'a:1:x\nb:2:y\nc:3:z\n' > cols
echo "--- ls"; ls -1; ls -1 sub | wc -l
echo "--- cat"; cat fruit cols | wc -l
echo "--- printf"; printf '%05d|%-4s|%x\n' 42 ab 255
echo "--- wc"; wc -l fruit; wc -c < cols
echo "--- sort uniq"; sort fruit | uniq -c
echo "--- head tail"; head -n 2 fruit; tail -n 1 fruit
echo "--- grep"; grep -n app fruit; grep -c a fruit; grep -v a fruit || echo none
echo "--- sed"; sed 's/a/A/g' fruit | head -n 3; sed -n '2p' cols
echo "--- cut tr"; cut -d: -f2 cols | tr '\n' ' '; echo; echo hello | tr a-z A-Z
echo "--- cp mv ln rm"; cp fruit f2; mv f2 f3; ln -s f3 link; cat link | wc -l; rm f3 link; ls -1
echo "--- touch test"; touch new; test -f new && echo exists; test -d sub && echo dir; test -e nothing || echo absent
echo "--- seq"; seq 3; seq 2 2 7 | tr '\n' ,; echo
echo "--- env"; env -i A=1 B=2 env | sort
echo "--- uname"; uname -s; uname -m
echo "--- yes"; yes ok | head -n 2
echo "--- xargs"; seq 4 | xargs echo n:; printf 'x\ny\n' | xargs -n 1 echo item
echo "--- find"; find . -name '*ui*' | sort; find . -type d | sort
echo "--- sleep"; sleep 0.1 && echo slept
cd /
rm -r $d
echo done
