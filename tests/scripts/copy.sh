# A copy made and synced, then copies made and removed until the machine
# is killed (the crash test: the first copy must survive whole).
set -e
mkdir -p /mnt
mount -t ext2 /dev/vda /mnt
seq 1 100000 > /tmp/numbers
mkdir /mnt/first
i=0
while [ $i -lt 10 ]; do
    cp /tmp/numbers /mnt/first/n$i
    i=$((i + 1))
done
cp -r /bin /mnt/first/bin
sync
echo "first copy synced"
i=0
while true; do
    mkdir -p /mnt/second/$i
    cp /tmp/numbers /mnt/second/$i/n
    cp -r /bin /mnt/second/$i/bin
    mv /mnt/second/$i/n /mnt/second/$i/moved
    if [ $i -ge 2 ]; then rm -r /mnt/second/$((i - 2)); fi
    i=$((i + 1))
done
